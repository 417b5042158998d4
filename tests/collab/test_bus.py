"""The Redis bus on its own: a document opened at any moment of the bus's (re)connection is
heard."""

from __future__ import annotations

import asyncio
import uuid

from collab.bus import Envelope, Kind, RedisBus

from .test_cluster import REDIS_URL
from .yclient import run


def test_a_document_opened_while_the_bus_subscribes_is_still_heard() -> None:
    """The bus subscribes its channels in one round trip; a room that opens during it finds no
    subscription to add itself to. Open one at each event-loop turn of that start."""

    async def trial(turns: int) -> bool:
        prefix = f"arobase:test-{uuid.uuid4().hex}:"
        bus, other = RedisBus(REDIS_URL, prefix), RedisBus(REDIS_URL, prefix)
        heard = asyncio.Event()

        def handler(name: str, envelope: Envelope) -> None:
            if name == "section-1" and envelope.data == b"hello":
                heard.set()

        async def nothing() -> None:
            return None

        listening = asyncio.ensure_future(bus.run(handler, nothing))
        sending = asyncio.ensure_future(other.run(lambda name, envelope: None, nothing))
        try:
            for _ in range(turns):
                await asyncio.sleep(0)
            await bus.subscribe("section-1")
            await asyncio.sleep(0.3)  # every subscription confirmed by now
            other.publish("section-1", Kind.UPDATE, b"hello")
            try:
                await asyncio.wait_for(heard.wait(), 2)
            except TimeoutError:
                return False
            return True
        finally:
            for task in (listening, sending):
                task.cancel()
            await asyncio.gather(listening, sending, return_exceptions=True)

    async def scenario() -> None:
        deaf = [turns for turns in range(12) if not await trial(turns)]
        assert deaf == []

    run(scenario())
