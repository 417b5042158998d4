"""A client that stops reading is cut off; the others keep editing and lose nothing."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from pycrdt import Text

from collab import protocol
from collab.endpoint import SLOW_READER

from .conftest import Live
from .yclient import YClient, run

CHUNK = "x" * 800_000  # ~800 KB per update: the bound (8 MiB queued) is passed in a few dozen


# On the direct path only: there the bound covers the socket's own buffer. On plain ASGI it
# depends on the server's backpressure (uvicorn's buffers tens of megabytes before pausing).
@pytest.mark.parametrize("live", ["direct"], indirect=True)
def test_a_client_that_stops_reading_is_disconnected_and_others_carry_on(live: Live) -> None:
    url, origin = live.section_url(0), live.url
    writer_cookie = live.cookie(live.w.producteur.email)
    reader_cookie = live.cookie(live.w.relecteur.email)

    async def scenario() -> None:
        # max_queue=1: once one message waits unread, the client stops reading its socket.
        stalled = await websockets.connect(
            url,
            additional_headers={"Cookie": reader_cookie},
            origin=origin,
            max_size=None,
            max_queue=1,
        )
        await stalled.send(protocol.sync_step1(b"\x00"))
        async with (
            YClient(url, writer_cookie, origin) as writer,
            YClient(url, reader_cookie, origin) as follower,
        ):
            await writer.synced.wait()
            await follower.synced.wait()
            for i in range(48):
                writer.type_into("notes", f"{i}:{CHUNK}")
                await asyncio.sleep(0.02)
            await writer.wait(writer.saved, timeout=30, what="every update acknowledged")
            await follower.wait(
                lambda: len(follower.doc.get("notes", type=Text)) == len(writer.doc["notes"]),
                timeout=30,
                what="the follower to receive everything",
            )
            assert follower.closed is None and writer.closed is None
        code = None
        try:
            while True:  # read what was sent before the close, then the close itself
                await asyncio.wait_for(stalled.recv(), 10)
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        assert code == SLOW_READER

    run(scenario())
