"""The section workflow changes rights live: validating a section turns its editors read-only."""

from __future__ import annotations

import asyncio

from collab import protocol

from .conftest import Live
from .test_revocation import post_as_referent
from .yclient import YClient, run


async def round_trip(client: YClient) -> None:
    """Ask the server for what `client` lacks and wait for the answer: the server handles a
    connection's messages in order, so everything `client` sent before has been dealt with, and
    `client` now holds every change the server accepted."""
    client.synced.clear()
    await client.send_raw(protocol.sync_step1(client.doc.get_state()))
    await asyncio.wait_for(client.synced.wait(), 10)


def test_validating_a_section_turns_open_connections_read_only(live: Live) -> None:
    async def scenario() -> None:
        url, section = live.section_url(0), live.w.sections[0].id  # the producteur's
        async with (
            YClient(url, live.cookie(live.w.producteur.email), live.url) as prod,
            YClient(url, live.cookie(live.w.referent.email), live.url) as ref,
        ):
            await asyncio.wait_for(prod.synced.wait(), 10)
            await asyncio.wait_for(ref.synced.wait(), 10)
            prod.set_answer("gouvernance.budget", 1.0)
            await ref.wait(lambda: ref.answers().get("gouvernance.budget") == 1.0)
            for transition in ("terminer", "valider"):  # the référent may do both
                await asyncio.to_thread(
                    post_as_referent, live, f"/sections/{section}/statut/{transition}", {}
                )
            await prod.wait(lambda: prod.denied == ["lecture seule"], what="read-only notice")
            # Validated: the référent's connection too (its notice may come a moment later).
            await ref.wait(lambda: ref.denied == ["lecture seule"], what="référent read-only")

            prod.set_answer("gouvernance.budget", 2.0)
            # The client sends its edit from a task of its own: one turn of the loop lets it go
            # out before the round trip's request (not a wait for time to pass).
            await asyncio.sleep(0)
            await round_trip(prod)  # the server has now handled the edit
            await round_trip(ref)
            assert ref.answers()["gouvernance.budget"] == 1.0
            assert prod.closed is None  # still reading
        # Someone joining now gets the document as the server keeps it.
        async with YClient(url, live.cookie(live.w.relecteur.email), live.url) as reader:
            await asyncio.wait_for(reader.synced.wait(), 10)
            assert reader.answers()["gouvernance.budget"] == 1.0

    run(scenario())
