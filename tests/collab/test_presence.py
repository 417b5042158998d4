"""Presence through the real server: who is here, and who is gone once they leave or go silent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.db import Database

from ..app.factories import world
from ..conftest import make_settings
from ..live import free_port, serve
from .conftest import Live
from .yclient import YClient, presence_names, run

# A clean close removes presence at once: far within uvicorn's default keepalive (a ping every
# 20 s, 20 s for the pong), so what this bound allows cannot be a timeout doing the work.
PROMPTLY = 2.0
# The keepalive of the server in `quick_keepalive`, and how long a silent client may stay listed.
PING_INTERVAL, PING_TIMEOUT = 0.3, 1.0
SILENT_CLIENT_DROPPED_WITHIN = PING_INTERVAL + PING_TIMEOUT + 2.0


def gone(client: YClient, leaver: YClient) -> bool:
    """Has `client` heard the awareness "removed" entry (a null state) for `leaver`?"""
    return leaver.doc.client_id in client.awareness and (
        client.awareness[leaver.doc.client_id] is None
    )


def test_everyone_sees_the_others_and_a_clean_leave_removes_its_presence_at_once(
    live: Live,
) -> None:
    w = live.w
    everyone = {w.producteur.name, w.referent.name, w.relecteur.name}

    async def scenario() -> None:
        url = live.section_url(0)
        async with (
            YClient(url, live.cookie(w.producteur.email), live.url) as prod,
            YClient(url, live.cookie(w.referent.email), live.url) as ref,
        ):
            async with YClient(url, live.cookie(w.relecteur.email), live.url) as rel:
                for client in (prod, ref, rel):
                    await client.synced.wait()
                    await client.set_presence({"cursor": None})
                for client in (prod, ref, rel):
                    await client.wait(
                        lambda c=client: presence_names(c) == everyone, what="all three present"
                    )
            # The relecteur closed without withdrawing its presence: the server does it.
            for client in (prod, ref):
                await client.wait(
                    lambda c=client: gone(c, rel), timeout=PROMPTLY, what="the leaver removed"
                )
                assert presence_names(client) == {w.producteur.name, w.referent.name}

    run(scenario())


@pytest.fixture(params=["direct", "asgi"])
def quick_keepalive(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Live]:
    """Like `live`, with uvicorn's keepalive cut from 20 s + 20 s to a fraction of a second
    (the keepalive is uvicorn's on both paths: ours only subclasses its websockets protocol)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(sqlite_url, base_url=url)
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    keepalive = {"ws_ping_interval": PING_INTERVAL, "ws_ping_timeout": PING_TIMEOUT}
    with serve(settings, port, direct=request.param == "direct", **keepalive):
        yield Live(url, f"ws://127.0.0.1:{port}", settings, database, w)
    database.dispose()


def test_a_client_that_stops_answering_pings_is_dropped_and_its_presence_removed(
    quick_keepalive: Live,
) -> None:
    live, w = quick_keepalive, quick_keepalive.w

    async def scenario() -> None:
        url = live.section_url(0)
        async with (
            YClient(url, live.cookie(w.producteur.email), live.url) as prod,
            YClient(url, live.cookie(w.referent.email), live.url) as ref,
            YClient(url, live.cookie(w.relecteur.email), live.url) as silent,
        ):
            for client in (prod, ref, silent):
                await client.synced.wait()
                await client.set_presence({"cursor": None})
            for client in (prod, ref):
                await client.wait(
                    lambda c=client: w.relecteur.name in presence_names(c), what="the relecteur"
                )
            # Its socket stays open but it reads nothing more, so it answers no ping: a laptop
            # put to sleep, a network gone without a FIN.
            silent.ws.transport.pause_reading()
            for client in (prod, ref):
                await client.wait(
                    lambda c=client: gone(c, silent),
                    timeout=SILENT_CLIENT_DROPPED_WITHIN,
                    what="the silent client's presence removed",
                )
                assert presence_names(client) == {w.producteur.name, w.referent.name}
            # Those who answer pings stay, well past a pong deadline of their own.
            prod.set_answer("gouvernance.budget", 5.0)
            await ref.wait(lambda: ref.answers().get("gouvernance.budget") == 5.0)
            assert prod.closed is None and ref.closed is None
            silent.ws.transport.resume_reading()  # it finds the server's close waiting
            await silent.wait(lambda: silent.closed is not None, what="the silent client closed")
            assert silent.closed == (1011, "keepalive ping timeout")

    run(scenario())
