"""The websocket endpoint at /collab/{document}: the only part of collab/ that speaks ASGI.

Raw ASGI rather than Starlette's WebSocket wrapper: it is the hot path of every keystroke and
the wrapper adds a layer per message. Under our uvicorn protocol (collab/transport.py) an
accepted connection leaves ASGI for the direct path: messages in by callback, frames out
batched per loop turn; elsewhere it stays on plain ASGI with one writer task per connection.
A handshake is refused before any document is loaded when its Origin is not ours (cross-site
websocket hijacking), when it carries no valid session, or when the person may not read the
document. What waits to be sent to one client is bounded: a client that stops reading is
disconnected instead of stalling its room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from collab.gate import Gate
from collab.manager import Manager
from collab.metrics import Metrics
from collab.protocol import ProtocolError
from collab.room import Connection, CrdtError, Permission, Room
from collab.transport import DirectLink, direct_link

log = logging.getLogger("arobase.collab")
DOC_NAME = re.compile(r"^section-\d{1,12}$")

# Close codes (4000–4999 are ours to define).
BAD_MESSAGE, TOO_BIG, FORBIDDEN, UNAUTHENTICATED, NOT_FOUND, TOO_MANY = (
    4400,
    1009,
    4403,
    4401,
    4404,
    4429,
)
SLOW_READER, GOING_AWAY = 4408, 1001
REFUSALS = (FORBIDDEN, UNAUTHENTICATED, NOT_FOUND, TOO_MANY)  # what a handshake may get


@dataclass(frozen=True)
class Limits:
    max_message: int = 1024 * 1024  # bytes in one message
    rate: float = 100.0  # messages a second, sustained
    burst: int = 400  # messages allowed in a burst
    connections_per_user: int = 20
    send_queue: int = 2048  # messages buffered for one client before it counts as not reading
    send_bytes: int = 8 * 1024 * 1024  # the same bound in bytes, on the direct path


class _Closable:
    """Closing a connection from anywhere: remember why and stop the task group serving it."""

    closing: tuple[int, str] | None = None
    group: TaskGroup | None = None

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            if self.group is not None:
                self.group.cancel_scope.cancel()


class _QueueChannel(_Closable):
    """Outbound side of one connection on plain ASGI: a bounded queue drained by a writer task.

    A plain deque and an asyncio.Event rather than an anyio memory stream: this is on the path of
    every message to every recipient, and the stream's per-item checkpoints cost measurably.
    """

    def __init__(self, size: int, limit: int = Limits.send_bytes) -> None:
        self.size, self.limit = size, limit
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()

    def send(self, data: bytes) -> None:
        if self.closing is not None:
            return
        if len(self.queue) >= self.size or self.queued_bytes > self.limit:
            self.close(SLOW_READER, "client trop lent")
            return
        self.queue.append(data)
        self.queued_bytes += len(data)
        self.ready.set()

    def send_later(self, data: bytes, within: float) -> None:
        self.send(data)  # every message is a write of its own here: nothing to ride on

    def pop(self) -> bytes:
        data = self.queue.popleft()
        self.queued_bytes -= len(data)
        return data


class _DirectChannel(_Closable):
    """Outbound side of one connection on the direct path: frames go to the link's batch."""

    def __init__(self, link: DirectLink, limit: int) -> None:
        self.link = link
        self.send = link.send  # one call per message and recipient, not two
        self.send_later = link.send_later
        link.limit = limit
        link.on_overflow = lambda: self.close(SLOW_READER, "client trop lent")

    def close(self, code: int, reason: str) -> None:
        self.link.close()
        super().close(code, reason)


class _RateLimit:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.stamp = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens < 1:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1
        return True


class CollabEndpoint:
    def __init__(
        self,
        manager: Manager,
        gate: Gate,
        origin: str,
        limits: Limits = Limits(),
        metrics: Metrics | None = None,
    ) -> None:
        self.manager = manager
        self.gate = gate
        self.origin = origin
        self.limits = limits
        self.metrics = metrics if metrics is not None else Metrics()
        self.metrics.refusals.declare(str(code) for code in REFUSALS)
        self._per_user: dict[int, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if (await receive())["type"] != "websocket.connect":
            return
        name = scope["path"].rsplit("/", 1)[-1]
        headers = Headers(scope=scope)
        refusal = await self._refusal(name, headers)
        if isinstance(refusal, int):
            self.metrics.refusals.inc(str(refusal))
            await send({"type": "websocket.close", "code": refusal})
            return
        conn = refusal
        link = direct_link(scope)
        if link is not None:
            conn.channel = _DirectChannel(link, self.limits.send_bytes)
        self._per_user[conn.peer.user_id] = self._per_user.get(conn.peer.user_id, 0) + 1
        try:
            await send({"type": "websocket.accept"})
            await self._serve(name, conn, receive, send)
        finally:
            self._per_user[conn.peer.user_id] -= 1
            if not self._per_user[conn.peer.user_id]:
                del self._per_user[conn.peer.user_id]

    async def _refusal(self, name: str, headers: Headers) -> int | Connection:
        """A close code, or the connection to serve."""
        if headers.get("origin") != self.origin:
            return FORBIDDEN
        if not DOC_NAME.match(name):
            return NOT_FOUND
        peer, permission = await self.gate.admit(headers, name)
        if peer is None:
            return UNAUTHENTICATED
        if permission == Permission.NONE:
            return FORBIDDEN
        if self._per_user.get(peer.user_id, 0) >= self.limits.connections_per_user:
            return TOO_MANY
        channel = _QueueChannel(self.limits.send_queue, self.limits.send_bytes)
        return Connection(peer, permission, channel)

    async def _serve(self, name: str, conn: Connection, receive: Receive, send: Send) -> None:
        channel = conn.channel
        if not isinstance(channel, _QueueChannel | _DirectChannel):
            raise TypeError("connections of this endpoint use one of its channels")
        room = await self.manager.join(name, conn)
        try:
            async with anyio.create_task_group() as group:
                channel.group = group
                if isinstance(channel, _DirectChannel):
                    channel.link.attach(self._handler(conn, room))
                    await self._until_disconnect(receive)
                else:
                    group.start_soon(self._write, channel, send)
                    await self._read(conn, room, receive)
                group.cancel_scope.cancel()
        finally:
            if isinstance(channel, _QueueChannel):
                channel.queue.clear()
            with anyio.CancelScope(shield=True):
                await self.manager.leave(room, conn)
                if channel.closing is not None:
                    code, reason = channel.closing
                    with contextlib.suppress(OSError):  # the client may already be gone
                        await send({"type": "websocket.close", "code": code, "reason": reason})

    async def _write(self, channel: _QueueChannel, send: Send) -> None:
        try:
            while True:
                await channel.ready.wait()
                channel.ready.clear()
                while channel.queue:
                    await send({"type": "websocket.send", "bytes": channel.pop()})
        except OSError:  # the client went away; the reader sees the disconnect
            channel.close(GOING_AWAY, "")

    async def _read(self, conn: Connection, room: Room, receive: Receive) -> None:
        handle = self._handler(conn, room)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if not handle(message.get("bytes")):
                return

    @staticmethod
    async def _until_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "websocket.disconnect":
            pass  # messages reach the handler directly; only the disconnect comes this way

    def _handler(self, conn: Connection, room: Room) -> Callable[[bytes | None], bool]:
        """What to do with each message of one connection; False once it is being closed."""
        limit = _RateLimit(self.limits.rate, self.limits.burst)
        max_message = self.limits.max_message
        channel = conn.channel
        observe, clock = self.metrics.relay_seconds.observe, time.perf_counter

        def handle(data: bytes | None) -> bool:
            if getattr(channel, "closing", None) is not None:
                return False
            if data is None:
                channel.close(BAD_MESSAGE, "messages binaires uniquement")
                return False
            if len(data) > max_message:
                channel.close(TOO_BIG, "message trop gros")
                return False
            if not limit.allow():
                channel.close(TOO_MANY, "trop de messages")
                return False
            started = clock()
            try:
                room.receive(conn, data)
            except (ProtocolError, CrdtError) as exc:
                log.info("closing %s on %s: %s", conn.id, room.name, exc)
                channel.close(BAD_MESSAGE, "message invalide")
                return False
            observe(clock() - started)
            return True

        return handle
