"""A direct path for collab websockets under uvicorn: frames in by callback, frames out batched.

Through plain ASGI every message costs a queue hop and a task switch on the way in and a framed
write per recipient on the way out; with a hundred editors in a room that is most of the
server's CPU. `CollabProtocol` is uvicorn's sans-I/O websocket protocol with a `DirectLink`
put in the connection's ASGI scope (extension ``arobase.direct``). The endpoint, once a
connection is accepted and in its room, attaches a callback: each binary message is then
handed to the room in the same loop turn it was read, and what the room sends is framed once
per distinct message (a server frame is the same bytes for every recipient) and written once
per connection per loop turn.

Incoming frames of an attached connection are parsed here too, for the one kind a y-websocket
client sends: a whole, masked, binary frame within the size limit. Parsing them with
websockets' general parser cost more than the CRDT work on them. Anything else (text, a
fragment, a control frame, a reserved bit, an oversized or unmasked frame) is handed, from its
first byte on, to websockets, whose parser then sits at that same frame boundary; we take over
again once it is back at a boundary. So the handshake, close, ping, the size limit and every
error stay uvicorn's and websockets'. The endpoint falls back to plain ASGI when the scope has
no link (another server, the test client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State
from websockets.streams import StreamReader

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

log = logging.getLogger("arobase.collab")
_AT_EOF = StreamReader.at_eof.__code__  # where websockets' parser waits between two frames
_BINARY_FIN = 0x82  # FIN set, no reserved bit, opcode 2
_GATHER = 1 << 16  # the largest frame we gather across reads ourselves
EXTENSION = "arobase.direct"
OnMessage = Callable[[bytes | None], object]  # None: a text frame (which we refuse)


def binary_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented binary frame (RFC 6455 §5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        return bytes((0x82, size)) + payload
    if size < 1 << 16:
        return bytes((0x82, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x82, 127)) + size.to_bytes(8, "big") + payload


class _Batcher:
    """Collects the frames of every link during one loop turn and writes them at its end.

    It also frames each message once: a broadcast hands the same bytes object to every
    recipient, so the last payload and its frame are kept.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dirty: list[DirectLink] = []
        self.payload: bytes | None = None
        self.frame = b""

    def add(self, link: DirectLink) -> None:
        if not self.dirty:
            self.loop.call_soon(self.flush)
        self.dirty.append(link)

    def flush(self) -> None:
        dirty, self.dirty = self.dirty, []
        for link in dirty:
            link.flush()


_batchers: dict[asyncio.AbstractEventLoop, _Batcher] = {}


def _batcher(loop: asyncio.AbstractEventLoop) -> _Batcher:
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _Batcher(loop)
    return batcher


class DirectLink:
    """What the endpoint sees of one websocket on the direct path."""

    def __init__(self, protocol: CollabProtocol) -> None:
        self._protocol = protocol
        self._batcher = _batcher(protocol.loop)
        self._pending: list[bytes] = []
        self._later: bytes | None = None  # a frame that may wait for the next write
        self._later_timer: asyncio.TimerHandle | None = None
        self.on_message: OnMessage | None = None
        self.on_overflow: Callable[[], object] = lambda: None
        self.limit = 8 * 1024 * 1024  # bytes the socket may hold unsent before on_overflow
        self.closed = False

    @property
    def open(self) -> bool:
        p = self._protocol
        return p.handshake_complete and not p.close_sent and not p.disconnected

    def attach(self, on_message: OnMessage) -> None:
        """Route this connection's messages to `on_message`, starting with any already queued
        (so the order is kept); a queued disconnect stays for the endpoint's `receive()`."""
        queue = self._protocol.queue
        held: list[Any] = []
        while not queue.empty():
            event = queue.get_nowait()
            if event["type"] == "websocket.receive" and not held:
                on_message(event.get("bytes"))
            else:
                held.append(event)
        for event in held:
            queue.put_nowait(event)
        self.on_message = on_message
        self._protocol.resume()

    def send(self, payload: bytes) -> None:
        """Queue one binary message; it is written at the end of this loop turn.

        On the path of every message to every recipient: kept to a few operations, the slow
        reader check is made once per turn in `flush`.
        """
        pending = self._pending
        if not pending:
            if self.closed:
                return
            self._batcher.add(self)
        batcher = self._batcher
        if payload is not batcher.payload:
            batcher.payload, batcher.frame = payload, binary_frame(payload)
        pending.append(batcher.frame)

    def send_later(self, payload: bytes, within: float) -> None:
        """Queue a message that may wait up to `within` seconds for the next write to this
        client, replacing one still waiting: a durable acknowledgement rides on the next relay
        instead of costing a write (a system call) of its own, and a newer one supersedes it."""
        if self.closed:
            return
        self._later = binary_frame(payload)
        if self._later_timer is None:
            self._later_timer = self._protocol.loop.call_later(within, self.flush)

    def close(self) -> None:
        """Send nothing more (what waits is dropped; the close frame follows through ASGI)."""
        self.closed = True
        self._pending.clear()
        self._drop_later()

    def _drop_later(self) -> None:
        self._later = None
        if self._later_timer is not None:
            self._later_timer.cancel()
            self._later_timer = None

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if self._later is not None:
            # First, as it usually waited since an earlier loop turn; its place among the relays
            # does not matter: it speaks of the client's own updates, never relayed back to it.
            pending.insert(0, self._later)
            self._drop_later()
        if not pending or self.closed or not self.open:
            return
        transport = self._protocol.transport
        transport.write(b"".join(pending) if len(pending) > 1 else pending[0])
        if transport.get_write_buffer_size() > self.limit:
            self.on_overflow()  # the client is not reading what it is sent


class CollabProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol, plus the direct link (select it with ``ws=``)."""

    link: DirectLink | None = None
    _partial = b""  # the start of a frame we parse, waiting for the rest
    _ours = False  # websockets' parser stands at a frame boundary: the next bytes are ours

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            self.link = DirectLink(self)
            scope["extensions"][EXTENSION] = self.link

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link is None or link.on_message is None or self.close_sent:
            if self._partial:  # ours so far: websockets' parser is at this frame's start
                data, self._partial = self._partial + data, b""
            self._websockets_take(data)
        elif self._ours or self._websockets_between_frames():
            self._ours = True
            self._receive_frames(link.on_message, data)
        else:
            super().data_received(data)

    def _websockets_take(self, data: bytes) -> None:
        """Hand `data`, which starts at a frame boundary, to websockets' parser."""
        self._ours = False
        super().data_received(data)

    def _websockets_between_frames(self) -> bool:
        """Has websockets' parser consumed every byte it was given, up to a frame's end, with
        no fragmented message open? (Its parser is a generator waiting in `at_eof`.)"""
        conn = self.conn
        if conn.state is not State.OPEN or conn.current_size is not None or self.frames:
            return False
        if conn.reader.buffer:
            return False
        waiting = conn.parser  # the generator it is suspended in, however deep
        for _ in range(8):
            inner = getattr(waiting, "gi_yieldfrom", None)
            if inner is None:
                break
            waiting = inner
        return getattr(waiting, "gi_code", None) is _AT_EOF

    def _receive_frames(self, on_message: OnMessage, data: bytes) -> None:
        buffer = self._partial + data if self._partial else data
        self._partial = b""
        end, at = len(buffer), 0
        limit = self.config.ws_max_size
        while end - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            if first != _BINARY_FIN or not second & 0x80:
                self._websockets_take(buffer[at:])  # not ours: websockets takes it from here
                return
            size, head = second & 0x7F, 6
            if size == 126:
                if end - at < 4:
                    break
                size, head = int.from_bytes(buffer[at + 2 : at + 4], "big"), 8
            elif size == 127:
                if end - at < 10:
                    break
                size, head = int.from_bytes(buffer[at + 2 : at + 10], "big"), 14
            if size > limit:
                self._websockets_take(buffer[at:])  # websockets refuses it with 1009
                return
            if end - at < head + size:
                if size > _GATHER:  # websockets' reader gathers big frames without recopying
                    self._websockets_take(buffer[at:])
                    return
                break
            start = at + head
            payload = apply_mask(buffer[start : start + size], buffer[start - 4 : start])
            at = start + size
            try:
                on_message(payload)
            except Exception:  # never let one connection's handler break the protocol
                log.exception("collab message handler failed")
            if self.close_sent or self.link is None or self.link.on_message is not on_message:
                if at < end:  # the handler closed or detached: the rest is websockets'
                    self._websockets_take(buffer[at:])
                return
        if at < end:
            self._partial = buffer[at:]

    def send_receive_event_to_app(self) -> None:
        link = self.link
        if link is None or link.on_message is None or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            link.on_message(data if self.curr_msg_data_type == "bytes" else None)
        except Exception:  # never let one connection's handler break the protocol
            log.exception("collab message handler failed")

    def resume(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()


def direct_link(scope: MutableMapping[str, Any]) -> DirectLink | None:
    link = scope.get("extensions", {}).get(EXTENSION)
    return link if isinstance(link, DirectLink) else None
