"""How rooms of one document in several processes hear each other: a publish/subscribe bus.

Each process persists what its own clients send (the log is append-only and CRDT updates
commute); the bus only carries live traffic between processes: updates, presence, state
vectors for the periodic gap check, and « rights changed, re-check your connections ».
Nothing depends on the bus for durability: when it is down each process keeps serving its
own clients, and when it returns the state-vector exchange and a reload from the database
heal whatever was missed.

`LocalBus` is the embedded default (one process: nothing to tell anyone). `RedisBus` uses
Redis pub/sub, one channel per document plus a control channel.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import redis as sync_redis
from redis import asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger("arobase.collab.bus")
CONTROL = ""  # the document name of control messages


class Kind(IntEnum):
    UPDATE = 0  # a Yjs update some process applied
    AWARENESS = 1  # an awareness update (presence), already stamped by its process
    STATE = 2  # a state vector: « here is what I have » (the gap check)
    RECHECK = 3  # control: rights changed, re-check open connections
    EVENT = 4  # control: an application event for open pages (e.g. comment threads changed)


@dataclass(frozen=True)
class Envelope:
    origin: str  # the sending process
    kind: Kind
    data: bytes

    def encode(self) -> bytes:
        return self.origin.encode() + bytes((self.kind,)) + self.data

    @classmethod
    def decode(cls, raw: bytes) -> Envelope:
        if len(raw) < ORIGIN_SIZE + 1 or raw[ORIGIN_SIZE] > max(Kind):
            raise ValueError("not a bus message")
        return cls(raw[:ORIGIN_SIZE].decode(), Kind(raw[ORIGIN_SIZE]), raw[ORIGIN_SIZE + 1 :])


ORIGIN_SIZE = 16
Handler = Callable[[str, Envelope], None]  # (document name or CONTROL, message)


def bus_prefix(database_url: str) -> str:
    """Channels named after the database (its name, not its host: processes may reach one
    database by different routes): processes sharing a database share a bus, and two
    deployments (or test runs) on one Redis never hear each other."""
    name = urlsplit(database_url).path.rsplit("/", 1)[-1] or database_url
    return f"arobase:{hashlib.sha256(name.encode()).hexdigest()[:12]}:"


def new_origin() -> str:
    return os.urandom(ORIGIN_SIZE // 2).hex()


def tell_everyone(url: str, prefix: str, kind: Kind, data: bytes = b"") -> bool:
    """Publish one control message from outside a served app (a command run from cron, say);
    False when Redis could not be reached. Every serving process hears it: the origin is new."""
    client = sync_redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    try:
        client.publish(f"{prefix}control", Envelope(new_origin(), kind, data).encode())
        return True
    except (RedisError, OSError):
        return False
    finally:
        client.close()


class Bus(Protocol):
    origin: str
    distributed: bool  # False: one process, nobody to hear

    async def run(self, handler: Handler, on_reconnect: Callable[[], Awaitable[None]]) -> None:
        """Deliver messages from other processes to `handler` until cancelled; after a lost
        connection comes back, call `on_reconnect` (so the rooms catch up)."""

    async def subscribe(self, name: str) -> None:
        """Start hearing `name`; returns once the subscription is active (or the bus is
        down: then the reload after reconnection covers what is missed)."""

    async def unsubscribe(self, name: str) -> None: ...

    def publish(self, name: str, kind: Kind, data: bytes) -> None:
        """Send without waiting; never raises (a down bus drops it, the gap check heals)."""


class LocalBus:
    """One process: nothing to send, nothing to hear."""

    distributed = False

    def __init__(self) -> None:
        self.origin = new_origin()

    async def run(self, handler: Handler, on_reconnect: Callable[[], Awaitable[None]]) -> None:
        await asyncio.Event().wait()

    async def subscribe(self, name: str) -> None:
        return None

    async def unsubscribe(self, name: str) -> None:
        return None

    def publish(self, name: str, kind: Kind, data: bytes) -> None:
        return None


class RedisBus:
    """Redis pub/sub: channel `{prefix}doc:{name}` per document, `{prefix}control` for control.

    Publishing goes through queues drained by one task (order is kept, the room never waits):
    whatever is waiting goes out in one pipelined round trip, live traffic (updates, presence)
    before the gap check's state vectors, so the periodic check never delays an edit. The
    subscriber reconnects with backoff and re-subscribes what is open.
    """

    distributed = True

    def __init__(self, url: str, prefix: str = "arobase:", queue_size: int = 10_000) -> None:
        self.url = url
        self.prefix = prefix
        self.origin = new_origin()
        self.queue_size = queue_size
        self._live: deque[tuple[str, bytes]] = deque()
        self._background: deque[tuple[str, bytes]] = deque()
        self._waiting = asyncio.Event()
        self._names: set[str] = set()
        self._pubsub: Any = None
        self._confirmed: dict[str, asyncio.Event] = {}
        self.dropped = 0  # messages not sent (queue full or Redis down)

    def _channel(self, name: str) -> str:
        return f"{self.prefix}control" if name == CONTROL else f"{self.prefix}doc:{name}"

    def _name(self, channel: str) -> str:
        if channel == f"{self.prefix}control":
            return CONTROL
        return channel.removeprefix(f"{self.prefix}doc:")

    async def run(self, handler: Handler, on_reconnect: Callable[[], Awaitable[None]]) -> None:
        client = redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
        publisher = asyncio.ensure_future(self._publish_loop(client))
        try:
            await self._listen_loop(client, handler, on_reconnect)
        finally:
            publisher.cancel()
            # Shielded: the task group that stops us re-delivers its cancellation at every
            # await, and a connection left open keeps the event loop from closing.
            with anyio.CancelScope(shield=True):
                with suppress(asyncio.CancelledError):
                    await publisher
                with suppress(Exception):
                    await client.aclose()

    async def _listen_loop(
        self, client: Any, handler: Handler, on_reconnect: Callable[[], Awaitable[None]]
    ) -> None:
        backoff, first = 0.1, True
        while True:
            pubsub = client.pubsub()
            try:
                channels = [self._channel(n) for n in {CONTROL, *self._names}]
                await pubsub.subscribe(*channels)
                self._pubsub = pubsub
                # A room opened while we were subscribing found no pubsub and only left its name.
                late = {self._channel(n) for n in self._names} - set(channels)
                if late:
                    await pubsub.subscribe(*late)
                if not first:
                    log.info("bus: reconnected to Redis, catching up")
                    await on_reconnect()
                first, backoff = False, 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    channel = message["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else channel
                    if message["type"] == "subscribe":
                        event = self._confirmed.get(channel)
                        if event is not None:
                            event.set()
                        continue
                    if message["type"] != "message":
                        continue
                    try:
                        envelope = Envelope.decode(message["data"])
                    except ValueError:
                        log.warning("bus: ignoring a malformed message on %s", channel)
                        continue
                    if envelope.origin != self.origin:
                        handler(self._name(channel), envelope)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:  # Redis went away: serve locally, retry
                log.warning("bus: Redis unreachable (%s); retrying in %.1fs", exc, backoff)
                self._pubsub = None
                for event in self._confirmed.values():
                    event.set()  # nobody waits for a subscription that cannot happen now
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with anyio.CancelScope(shield=True), suppress(Exception):
                    await pubsub.aclose()

    async def _publish_loop(self, client: Any) -> None:
        while True:
            await self._waiting.wait()
            self._waiting.clear()
            while self._live or self._background:
                batch = [self._live.popleft() for _ in range(min(len(self._live), 512))]
                if not batch:  # the gap check only once live traffic is out
                    batch = [
                        self._background.popleft() for _ in range(min(len(self._background), 512))
                    ]
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for channel, payload in batch:
                            pipe.publish(channel, payload)
                        await pipe.execute()
                except asyncio.CancelledError:
                    raise
                except (RedisError, OSError):  # dropped: the gap check and the reload heal it
                    self.dropped += len(batch)

    async def subscribe(self, name: str) -> None:
        self._names.add(name)
        pubsub = self._pubsub
        if pubsub is None:
            return  # down: subscribed on reconnection, then caught up from the database
        channel = self._channel(name)
        event = self._confirmed[channel] = asyncio.Event()
        try:
            await pubsub.subscribe(channel)
            await asyncio.wait_for(event.wait(), 2.0)
        except (RedisError, OSError, TimeoutError):
            log.warning("bus: subscribing to %s failed; the gap check will cover it", name)
        finally:
            self._confirmed.pop(channel, None)

    async def unsubscribe(self, name: str) -> None:
        self._names.discard(name)
        pubsub = self._pubsub
        if pubsub is not None:
            with suppress(Exception):
                await pubsub.unsubscribe(self._channel(name))

    def publish(self, name: str, kind: Kind, data: bytes) -> None:
        queue = self._background if kind == Kind.STATE else self._live
        if len(self._live) + len(self._background) >= self.queue_size:
            self.dropped += 1  # Redis is too slow or away: the gap check heals it later
            return
        queue.append((self._channel(name), Envelope(self.origin, kind, data).encode()))
        self._waiting.set()
