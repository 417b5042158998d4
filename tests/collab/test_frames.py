"""Frames as they come off the wire: however a client's bytes are cut into reads, every message
reaches the room whole and in order, control frames are answered in passing, and what the
direct path does not parse itself (text, fragments, big frames) is handled as before."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any

from pycrdt import Doc, Map

from collab import protocol

from .conftest import Live
from .yclient import YClient, run


def client_frame(payload: bytes, opcode: int = 0x2, fin: bool = True) -> bytes:
    """A masked frame, as a client sends it (RFC 6455 §5.2), with a random mask."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    """A websocket client that writes the bytes it is given, cut where the test says."""

    def __init__(self, live: Live, email: str) -> None:
        self.live, self.email = live, email
        self.messages: list[tuple[int, bytes]] = []  # (opcode, payload) from the server
        self.closed: int | None = None

    async def __aenter__(self) -> RawClient:
        cookie = await asyncio.to_thread(self.live.cookie, self.email)
        port = int(self.live.url.rsplit(":", 1)[1])
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        path = self.live.section_url(0).split(str(port), 1)[1]
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: {self.live.url}\r\nCookie: {cookie}\r\n\r\n"
            ).encode()
        )
        status = await self.reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        self.writer.close()

    async def _read(self) -> None:
        try:
            while True:
                first, second = await self.reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await self.reader.readexactly(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
                payload = await self.reader.readexactly(size)
                self.messages.append((first & 0x0F, payload))
                if first & 0x0F == 0x8:
                    self.closed = struct.unpack("!H", payload[:2])[0] if payload else 1005
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed = self.closed or 1006

    async def send(self, data: bytes, cut: int = 0) -> None:
        """Write `data` in pieces of `cut` bytes (0: at once), each its own read on the server."""
        pieces = [data[i : i + cut] for i in range(0, len(data), cut)] if cut else [data]
        for piece in pieces:
            self.writer.write(piece)
            await self.writer.drain()
            if cut:
                await asyncio.sleep(0.002)

    def got(self, opcode: int, start: bytes = b"") -> list[bytes]:
        return [p for o, p in self.messages if o == opcode and p.startswith(start)]

    async def wait(self, condition: Any, what: str) -> None:
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")


class Writer:
    """Makes one update per answer, as an editor would send them."""

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc(client_id=424242)
        self.answers = self.doc.get("answers", type=Map)

    def set(self, key: str, value: str) -> bytes:
        before = self.doc.get_state()
        self.answers[key] = value
        return protocol.sync_update(self.doc.get_update(before))


def test_messages_arrive_whole_however_the_bytes_are_cut(live: Live) -> None:
    async def scenario() -> None:
        url, cookie = live.section_url(0), live.cookie(live.w.referent.email)
        writer = Writer()
        async with (
            YClient(url, cookie, live.url) as watcher,
            RawClient(live, live.w.producteur.email) as raw,
        ):
            await watcher.synced.wait()
            await raw.send(client_frame(protocol.sync_step1(b"\x00")))
            step2 = bytes([protocol.SYNC, protocol.SYNC_STEP2])
            await raw.wait(lambda: raw.got(0x2, step2), "the initial sync")

            expected = {"q.court": "un"}
            await raw.send(client_frame(writer.set("q.court", "un")), cut=1)  # byte by byte
            medium, big = "m" * 1000, "g" * 200_000  # 16-bit and 64-bit frame lengths
            expected |= {"q.moyen": medium, "q.grand": big}
            await raw.send(client_frame(writer.set("q.moyen", medium)), cut=3)
            await raw.send(client_frame(writer.set("q.grand", big)), cut=50_000)
            # Three messages and a ping in one write, the last one cut in two writes.
            burst = b"".join(
                [
                    client_frame(writer.set("q.a", "a")),
                    client_frame(b"bonjour", opcode=0x9),
                    client_frame(writer.set("q.b", "b")),
                    client_frame(writer.set("q.c", "c")),
                ]
            )
            await raw.send(burst[:-3])
            await raw.send(burst[-3:])
            expected |= {"q.a": "a", "q.b": "b", "q.c": "c"}
            # A message sent in two fragments: reassembled, then the direct path takes over again.
            update = writer.set("q.fragments", "f")
            await raw.send(
                client_frame(update[:3], fin=False) + client_frame(update[3:], opcode=0x0)
            )
            await raw.send(client_frame(writer.set("q.apres", "z")), cut=2)
            expected |= {"q.fragments": "f", "q.apres": "z"}

            await watcher.wait(lambda: watcher.answers() == expected, what="every message")
            assert raw.got(0xA) == [b"bonjour"]  # the ping was answered
            durable = bytes([protocol.DURABLE])
            await raw.wait(lambda: raw.got(0x2, durable), "an acknowledgement")
            assert raw.closed is None

            await raw.send(client_frame(b"du texte", opcode=0x1))  # we speak binary only
            await raw.wait(lambda: raw.closed is not None, "the text frame to be refused")
            assert raw.closed == 4400
        async with YClient(url, cookie, live.url) as late:
            await late.synced.wait()
            assert late.answers() == expected

    run(scenario())


def test_an_oversized_frame_is_refused_before_it_is_read_whole(live: Live) -> None:
    async def scenario() -> None:
        async with RawClient(live, live.w.producteur.email) as raw:
            await raw.send(client_frame(protocol.sync_step1(b"\x00")))
            await raw.wait(lambda: raw.got(0x2), "the initial sync")
            # Only the header of a 64 MiB frame: the server must refuse it from the length alone.
            await raw.send(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 64 << 20) + os.urandom(4))
            await raw.wait(lambda: raw.closed is not None, "the frame to be refused")
            assert raw.closed == 1009

    run(scenario())
