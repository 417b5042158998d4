"""The websocket endpoint at /collab/{document}: the only part of collab/ that speaks ASGI.

Raw ASGI rather than Starlette's WebSocket wrapper: it is the hot path of every keystroke and
the wrapper adds a layer per message. A handshake is refused before any document is loaded
when its Origin is not ours (cross-site websocket hijacking), when it carries no valid
session, or when the person may not read the document. Each connection has a bounded send
queue: a client that stops reading is disconnected instead of stalling its room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from collab.gate import Gate
from collab.manager import Manager
from collab.protocol import ProtocolError
from collab.room import Connection, CrdtError, Permission, Room

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


@dataclass(frozen=True)
class Limits:
    max_message: int = 1024 * 1024  # bytes in one message
    rate: float = 100.0  # messages a second, sustained
    burst: int = 400  # messages allowed in a burst
    connections_per_user: int = 20
    send_queue: int = 2048  # messages buffered for one client before it counts as not reading


class _QueueChannel:
    """Outbound side of one connection: a bounded queue drained by the writer task.

    A plain deque and an asyncio.Event rather than an anyio memory stream: this is on the path of
    every message to every recipient, and the stream's per-item checkpoints cost measurably.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.queue: deque[bytes] = deque()
        self.ready = asyncio.Event()
        self.closing: tuple[int, str] | None = None
        self.group: TaskGroup | None = None

    def send(self, data: bytes) -> None:
        if self.closing is not None:
            return
        if len(self.queue) >= self.size:
            self.close(SLOW_READER, "client trop lent")
            return
        self.queue.append(data)
        self.ready.set()

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            if self.group is not None:
                self.group.cancel_scope.cancel()


class _RateLimit:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class CollabEndpoint:
    def __init__(
        self, manager: Manager, gate: Gate, origin: str, limits: Limits = Limits()
    ) -> None:
        self.manager = manager
        self.gate = gate
        self.origin = origin
        self.limits = limits
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
            await send({"type": "websocket.close", "code": refusal})
            return
        conn = refusal
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
        return Connection(peer, permission, _QueueChannel(self.limits.send_queue))

    async def _serve(self, name: str, conn: Connection, receive: Receive, send: Send) -> None:
        channel = conn.channel
        if not isinstance(channel, _QueueChannel):
            raise TypeError("connections of this endpoint use a _QueueChannel")
        room = await self.manager.join(name, conn)
        try:
            async with anyio.create_task_group() as group:
                channel.group = group
                group.start_soon(self._write, channel, send)
                await self._read(conn, room, receive)
                group.cancel_scope.cancel()
        finally:
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
                    await send({"type": "websocket.send", "bytes": channel.queue.popleft()})
        except OSError:  # the client went away; the reader sees the disconnect
            channel.close(GOING_AWAY, "")

    async def _read(self, conn: Connection, room: Room, receive: Receive) -> None:
        limit = _RateLimit(self.limits.rate, self.limits.burst)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                conn.channel.close(BAD_MESSAGE, "messages binaires uniquement")
                return
            if len(data) > self.limits.max_message:
                conn.channel.close(TOO_BIG, "message trop gros")
                return
            if not limit.allow():
                conn.channel.close(TOO_MANY, "trop de messages")
                return
            try:
                room.receive(conn, data)
            except (ProtocolError, CrdtError) as exc:
                log.info("closing %s on %s: %s", conn.id, room.name, exc)
                conn.channel.close(BAD_MESSAGE, "message invalide")
                return
