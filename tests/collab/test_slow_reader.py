"""A client that stops reading is cut off; the others keep editing and lose nothing."""

from __future__ import annotations

import asyncio
import base64
import random
import re

import httpx
import websockets
from pycrdt import Text

from collab import protocol
from collab.endpoint import SLOW_READER, Limits

from .conftest import Live
from .yclient import YClient, run

# Random text, not "xxx…": on plain ASGI uvicorn negotiates permessage-deflate, which shrinks
# a repeated character ~1000-fold, so 40 MB of it would fit in the sockets' buffers and the
# server would never feel the reader stall. Base85 of random bytes barely compresses (~80 %).
CHUNK = base64.b85encode(random.Random(0).randbytes(600_000)).decode()  # 750 000 characters
UPDATES = 48  # ~36 MB for the stalled client: several times the bound (8 MiB queued) plus
# what the sockets hold (a few MB on loopback)


CONNECTIONS = re.compile(r'^arobase_connections\{permission="(\w+)"\} (\d+)', re.M)


def connections(live: Live) -> dict[str, int]:
    """Live-editing connections the server holds, by permission (its /metrics)."""
    text = httpx.get(f"{live.url}/metrics", timeout=5).text
    return {label: int(value) for label, value in CONNECTIONS.findall(text)}


# On both serving paths (the fixture's params): the direct one bounds what the socket holds
# unsent, plain ASGI bounds the endpoint's queue while uvicorn's send waits for the socket.
def test_a_client_that_stops_reading_is_disconnected_and_others_carry_on(live: Live) -> None:
    url, origin = live.section_url(0), live.url
    writer_cookie = live.cookie(live.w.producteur.email)
    reader_cookie = live.cookie(live.w.relecteur.email)
    received = 0

    async def scenario() -> None:
        nonlocal received
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
            for i in range(UPDATES):
                writer.type_into("notes", f"{i}:{CHUNK}")
                await asyncio.sleep(0.02)
            await writer.wait(writer.saved, timeout=30, what="every update acknowledged")
            await follower.wait(
                lambda: len(follower.doc.get("notes", type=Text)) == len(writer.doc["notes"]),
                timeout=30,
                what="the follower to receive everything",
            )
            assert follower.closed is None and writer.closed is None
            assert str(follower.doc.get("notes", type=Text)) == str(writer.doc["notes"])
            # The stalled client still reads nothing, and the server has already let it go:
            # it holds only the writer and the follower (what it queued for the other is freed).
            assert await asyncio.to_thread(connections, live) == {"write": 1, "read": 1}
        code = None
        try:
            while True:  # read what was sent before the close, then the close itself
                received += len(await asyncio.wait_for(stalled.recv(), 10))
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        assert code == SLOW_READER

    run(scenario())
    # What reached the stalled client before its close is bounded by the queue's limit plus
    # the sockets' buffers, far from the ~36 MB it would have got had nothing been dropped.
    assert received < Limits.send_bytes + 12 * 1024 * 1024 < UPDATES * len(CHUNK), received
