"""Limits, through the real server: connections per account, a panic of the CRDT library, and
the count of writes refused to read-only connections as /metrics shows it."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Doc, Map, StickyIndex, Text
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from app.services import documents
from collab import manager
from collab.endpoint import BAD_MESSAGE, TOO_MANY, Limits

from ..app.test_ops import Samples, parse_exposition, value
from .conftest import Live
from .yclient import YClient, run

MARKER = "provoque-une-panique"  # what the document of a panicking server cannot take


async def scrape(live: Live) -> Samples:
    async with httpx.AsyncClient(base_url=live.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return parse_exposition(response.text)


async def handshake_status(url: str, cookie: str, origin: str) -> int:
    headers = {"Cookie": cookie}
    try:
        ws = await websockets.connect(url, additional_headers=headers, origin=Origin(origin))
    except InvalidStatus as exc:
        return int(exc.response.status_code)
    await ws.close()
    return 101


async def admitted(url: str, cookie: str, origin: str, timeout: float = 5.0) -> YClient:
    """A client connected as soon as the server lets it in: the server frees a connection's
    place once it has seen it go, a moment after the client's close handshake ends."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await YClient(url, cookie, origin).__aenter__()
        except InvalidStatus:
            if loop.time() > deadline:
                raise AssertionError(f"still refused after {timeout} s") from None
            await asyncio.sleep(0.02)


def test_one_account_holds_at_most_twenty_connections_and_a_closed_one_frees_its_place(
    live: Live,
) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        cookie = live.cookie(live.w.producteur.email)
        clients = [YClient(url, cookie, live.url) for _ in range(Limits.connections_per_user)]
        await asyncio.gather(*(c.__aenter__() for c in clients))
        try:
            await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in clients)), 10)
            # Counted per account, not per session: a second login gets no more room. A close
            # before the accept reaches the client as HTTP 403; the server's code (4429, not
            # the 4403 of a forbidden document) shows in the refusals it counts.
            second_session = live.cookie(live.w.producteur.email)
            assert await handshake_status(url, second_session, live.url) == 403
            samples = await scrape(live)
            assert value(samples, "arobase_websocket_refusals_total", code=str(TOO_MANY)) == 1
            assert value(samples, "arobase_websocket_refusals_total", code="4403") == 0
            assert all(c.closed is None for c in clients)

            last = clients[-1]
            last.set_answer("gouvernance.budget", 20.0)
            await last.wait(last.saved, what="the twentieth connection's ack")
            await asyncio.gather(
                *(
                    c.wait(lambda c=c: c.answers().get("gouvernance.budget") == 20.0)
                    for c in clients
                )
            )

            cookie_other = live.cookie(live.w.referent.email)
            async with YClient(url, cookie_other, live.url) as other:
                await other.synced.wait()
                assert other.answers() == {"gouvernance.budget": 20.0}
                other.set_answer("gouvernance.elu", True)
                await other.wait(other.saved, what="another account's ack")

            await clients.pop(0).__aexit__(None, None, None)
            newcomer = await admitted(url, second_session, live.url)
            clients.append(newcomer)
            await newcomer.synced.wait()
            assert newcomer.answers() == {"gouvernance.budget": 20.0, "gouvernance.elu": True}
            assert await handshake_status(url, cookie, live.url) == 403  # twenty again
        finally:
            await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))

    run(scenario())


def a_real_panic() -> type[BaseException]:
    """pyo3's PanicException, taken from pycrdt itself: it cannot be imported by name. Resolving
    a position that names an item the document lacks panics (see app/services/anchors.py)."""
    sticky = StickyIndex.from_json({"item": {"client": 1, "clock": 0}, "assoc": 0})
    try:
        with Doc().transaction() as txn:
            sticky.get_index(txn)
    except BaseException as exc:
        if type(exc).__name__ == "PanicException":
            return type(exc)
        raise
    raise AssertionError("pycrdt no longer panics on an unknown item")


def test_a_panic_of_the_crdt_library_closes_only_its_connection(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No update bytes were found that make this pycrdt panic (mutated and hand-made updates
    # only raise ValueError), so the server's documents are made to panic, with pycrdt's own
    # exception, on an update that carries MARKER. Both serving paths run in this process.
    panic = a_real_panic()

    class PanickingDoc(Doc[Any]):
        def apply_update(self, update: bytes) -> None:
            if MARKER.encode() in update:
                raise panic(f"called `Option::unwrap()` on a `None` value ({MARKER})")
            super().apply_update(update)

    monkeypatch.setattr(
        manager, "new_doc", lambda: PanickingDoc(skip_gc=True, client_id=random.getrandbits(32))
    )

    async def scenario() -> None:
        url = live.section_url(0)
        good_cookie = live.cookie(live.w.producteur.email)
        bad_cookie = live.cookie(live.w.referent.email)
        async with (
            YClient(url, good_cookie, live.url) as good,
            YClient(url, bad_cookie, live.url) as bad,
        ):
            await good.synced.wait()
            await bad.synced.wait()
            good.set_answer("gouvernance.budget", 1.0)
            await good.wait(good.saved, what="the first ack")
            await bad.wait(lambda: bad.answers().get("gouvernance.budget") == 1.0)

            bad.type_into("frappe", MARKER)
            await bad.wait(lambda: bad.closed is not None, what="the panicking connection to close")
            assert bad.closed == (BAD_MESSAGE, "message invalide")

            async with YClient(url, live.cookie(live.w.relecteur.email), live.url) as third:
                await third.synced.wait()
                good.append_paragraph("gouvernance.strategie", "Après l’incident du voisin.")
                good.set_answer("gouvernance.elu", True)
                await good.wait(good.saved, what="an ack after the panic")
                await third.wait(lambda: third.answers().get("gouvernance.elu") is True)
                await third.wait(lambda: "Après" in third.rich_text("gouvernance.strategie"))
                assert third.answers() == {"gouvernance.budget": 1.0, "gouvernance.elu": True}
                assert str(third.doc.get("frappe", type=Text)) == ""
                assert good.closed is None

    run(scenario())
    with live.db.session() as session:
        doc = documents.load(session, live.w.sections[0].doc_name)
    assert doc.get("answers", type=Map).to_py() == {
        "gouvernance.budget": 1.0,
        "gouvernance.elu": True,
    }
    assert str(doc.get("frappe", type=Text)) == ""


def test_a_write_refused_to_a_read_only_connection_is_counted_in_the_metrics(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        writer_cookie = live.cookie(live.w.producteur.email)
        async with YClient(url, writer_cookie, live.url) as writer:
            await writer.synced.wait()
            writer.set_answer("gouvernance.budget", 1.0)
            await writer.wait(writer.saved)
            assert value(await scrape(live), "arobase_rejected_writes_total") == 0
            async with YClient(url, live.cookie(live.w.relecteur.email), live.url) as reader:
                await reader.synced.wait()
                # Messages of one connection are handled in order: once its presence is
                # relayed, the echo of its initial sync has been handled too, and not counted.
                await reader.set_presence({"cursor": 0})
                await writer.wait(lambda: reader.doc.client_id in writer.awareness)
                assert reader.denied == []
                assert value(await scrape(live), "arobase_rejected_writes_total") == 0

                reader.set_answer("gouvernance.budget", 666.0)
                await reader.wait(lambda: len(reader.denied) >= 1, what="permission denied")
                assert reader.denied == ["lecture seule"]
                assert value(await scrape(live), "arobase_rejected_writes_total") == 1
                assert reader.closed is None  # refused, not disconnected
            assert writer.answers() == {"gouvernance.budget": 1.0}

    run(scenario())
