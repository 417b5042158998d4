"""Telling open section pages that their comment threads changed (server-sent events).

`Feed` is the whole interface: `publish` (called from any thread once a change is committed;
it never blocks) and `subscribe` (an async context manager giving the events of one section).
`LocalFeed` serves one process: a set of bounded asyncio queues per section. Several processes
would use a Redis version behind the same interface (publish to a channel per section; one
listener task, owned by its `running()`, fanning messages out to the local queues).

An event only says « this section's threads changed »: pages re-fetch the list, which is
permission-checked, so nothing is ever disclosed through the feed itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FeedEvent:
    section_id: int
    thread_id: int | None
    change: str  # what happened, e.g. "fil", "reponse", "resolution" (for logs and tests)

    def encode(self) -> bytes:
        return json.dumps([self.section_id, self.thread_id, self.change]).encode()

    @classmethod
    def decode(cls, raw: bytes) -> FeedEvent:
        section_id, thread_id, change = json.loads(raw)
        return cls(int(section_id), None if thread_id is None else int(thread_id), str(change))

    def to_sse(self) -> str:
        data = json.dumps({"fil": self.thread_id, "changement": self.change})
        return f"event: commentaires\ndata: {data}\n\n"


class FeedFull(Exception):
    """Too many pages follow the feed in this process: the page works without it."""


class Subscription:
    def __init__(self, queue: asyncio.Queue[FeedEvent]) -> None:
        self._queue = queue

    async def next(self, timeout: float) -> FeedEvent | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None


class Feed(Protocol):
    def publish(self, event: FeedEvent) -> None: ...

    def subscribe(self, section_id: int) -> AbstractAsyncContextManager[Subscription]: ...


class LocalFeed:
    """The in-process feed. Queues are only touched on the event loop's thread; `publish`
    hands each event over with `call_soon_threadsafe` (routes run in worker threads)."""

    def __init__(self, max_queued: int = 32, max_subscribers: int = 5000) -> None:
        self.max_queued = max_queued
        self.max_subscribers = max_subscribers
        self._queues: dict[int, set[asyncio.Queue[FeedEvent]]] = {}
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LocalFeed]:
        self._loop = asyncio.get_running_loop()
        try:
            yield self
        finally:
            self._loop = None

    def publish(self, event: FeedEvent) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.deliver, event)

    def deliver(self, event: FeedEvent) -> None:
        for queue in self._queues.get(event.section_id, ()):
            if queue.full():
                # A reader this far behind re-fetches the whole list at its next event anyway.
                continue
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, section_id: int) -> AsyncIterator[Subscription]:
        if self._count >= self.max_subscribers:
            raise FeedFull()
        queue: asyncio.Queue[FeedEvent] = asyncio.Queue(self.max_queued)
        self._queues.setdefault(section_id, set()).add(queue)
        self._count += 1
        try:
            yield Subscription(queue)
        finally:
            self._count -= 1
            queues = self._queues.get(section_id, set())
            queues.discard(queue)
            if not queues:
                self._queues.pop(section_id, None)

    def subscribers(self, section_id: int) -> int:
        return len(self._queues.get(section_id, ()))


class RelayedFeed:
    """The local feed, and the other processes' through collab's bus: an event published here
    also reaches pages that follow the section on another process (`heard` takes theirs)."""

    def __init__(self, local: LocalFeed, relay: Callable[[bytes], object]) -> None:
        self.local = local
        self._relay = relay  # thread-safe: routes publish from worker threads

    def publish(self, event: FeedEvent) -> None:
        self.local.publish(event)
        self._relay(event.encode())

    def subscribe(self, section_id: int) -> AbstractAsyncContextManager[Subscription]:
        return self.local.subscribe(section_id)

    def heard(self, raw: bytes) -> None:
        """An event from another process (on the event loop)."""
        try:
            event = FeedEvent.decode(raw)
        except (ValueError, TypeError):
            return
        self.local.deliver(event)
