"""Opening and unloading rooms, the group commit of updates, acknowledgements, checkpoints.

The group commit runs every 50 ms: measured with `make bench`, committing every 5 ms cost a
quarter to a third of the server's CPU in busy rooms, 20 ms still 5-10 % more than 50 ms with
50 active rooms, and 50 ms is still far below what anyone notices between typing and
« Enregistré ».

Updates are relayed by the room at once; the manager collects what must be stored from every
room and commits it in one transaction every `flush_interval` seconds (a group commit), then
tells each sender which state vector is now durable. If the store fails, nothing is
acknowledged and the updates stay pending until a later flush succeeds: the clients keep
editing together meanwhile, and « Enregistré » only ever follows a real commit.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup
from pycrdt import Doc

from collab import protocol
from collab.bus import CONTROL, Bus, Envelope, Kind, LocalBus
from collab.protocol import ProtocolError
from collab.room import Connection, CrdtError, Permission, Room, Stored
from collab.store import Store

log = logging.getLogger("arobase.collab")
PRESENCE_TTL = 30.0  # seconds: presence of other processes' clients not renewed is dropped


def new_doc() -> Doc:  # type: ignore[type-arg]
    # skip_gc keeps deleted content for history; a 32-bit client id keeps updates as small as
    # Yjs' own (pycrdt's default 53-bit id makes each update ~30 % larger).
    return Doc(skip_gc=True, client_id=random.getrandbits(32))


@dataclass
class _Pending:
    room: Room
    connection_id: str
    stored: Stored | None  # None: nothing to store, only an acknowledgement to send


@dataclass
class Stats:
    updates_stored: int = 0
    flushes: int = 0
    failed_flushes: int = 0
    rejected_writes: int = 0


class Manager:
    def __init__(
        self,
        store: Store,
        *,
        bus: Bus | None = None,
        flush_interval: float = 0.05,
        checkpoint_every: int = 500,
        exchange_interval: float = 5.0,
        reload_interval: float = 30.0,
    ) -> None:
        self.store = store
        self.bus: Bus = bus or LocalBus()
        self.exchange_interval = exchange_interval
        self.reload_interval = reload_interval
        # Called when another process says rights changed (set by the application).
        self.on_recheck: Callable[[], Coroutine[Any, Any, None]] | None = None
        self._group: TaskGroup | None = None
        # Called with each successful group commit's duration in seconds (metrics).
        self.on_commit: Callable[[float], None] | None = None
        # Called with the payload of an application event another process published.
        self.on_event: Callable[[bytes], None] | None = None
        self._opening: dict[str, list[Envelope]] = {}  # heard while loading, applied after
        self.flush_interval = flush_interval
        self.checkpoint_every = checkpoint_every
        self.rooms: dict[str, Room] = {}
        self.stats = Stats()
        self._pending: list[_Pending] = []
        self._last_ids: dict[str, int] = {}
        self._since_checkpoint: dict[str, int] = {}
        self._room_locks: dict[str, anyio.Lock] = {}
        # asyncio's lock takes no extra loop turn when free, as anyio's does; flushes run often.
        self._flush_lock = asyncio.Lock()
        self._wake = anyio.Event()
        # Group commits are serial anyway: one thread of their own, called straight through
        # asyncio, costs less than anyio's shared pool for something done 200 times a second.
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="collab-commit")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Manager]:
        async with anyio.create_task_group() as group:
            group.start_soon(self._flush_loop)
            group.start_soon(self.bus.run, self._heard, self._reload_all)
            if self.bus.distributed:
                group.start_soon(self._exchange_loop)
            self._group = group
            try:
                yield self
            finally:
                group.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await self.flush()  # what was received before shutdown is committed
        self._committer.shutdown(wait=True)

    # Rooms -----------------------------------------------------------------------------------
    async def join(self, name: str, conn: Connection) -> Room:
        lock = self._room_locks.setdefault(name, anyio.Lock())
        async with lock:
            room = self.rooms.get(name)
            if room is None:
                room = await self._open(name)
            room.join(conn)
        return room

    async def _open(self, name: str) -> Room:
        # Subscribe first, then load: what other processes relay meanwhile is kept and applied
        # after the load, so nothing falls between the two.
        self._opening[name] = []
        try:
            await self.bus.subscribe(name)
            loaded = await anyio.to_thread.run_sync(self.store.load, name)
            doc = new_doc()
            for update in loaded.updates:
                doc.apply_update(update)
            room = Room(name, doc, self._on_stored, self._relay_for(name), self._on_rejected)
            self.rooms[name] = room
            self._last_ids[name] = loaded.last_id
            self._since_checkpoint[name] = loaded.since_checkpoint
        finally:
            heard = self._opening.pop(name)
        for envelope in heard:
            self._dispatch(room, envelope)
        return room

    def _relay_for(self, name: str) -> Callable[[Kind, bytes], None]:
        publish = self.bus.publish
        return lambda kind, data: publish(name, kind, data)

    async def leave(self, room: Room, conn: Connection) -> None:
        room.leave(conn)
        if not room.empty:
            return
        lock = self._room_locks.setdefault(room.name, anyio.Lock())
        async with lock:
            await self.flush()
            if room.empty and self.rooms.get(room.name) is room and not self._pending_for(room):
                # A short tail replays fast: checkpoint on unload only when it is worth a write.
                if self._since_checkpoint.get(room.name, 0) >= max(1, self.checkpoint_every // 10):
                    await self._checkpoint(room)
                room.close()
                del self.rooms[room.name]
                await self.bus.unsubscribe(room.name)

    # Other processes (collab.bus) -------------------------------------------------------------
    def _heard(self, name: str, envelope: Envelope) -> None:
        if name == CONTROL:
            if envelope.kind == Kind.RECHECK and self.on_recheck and self._group is not None:
                self._group.start_soon(self.on_recheck)
            elif envelope.kind == Kind.EVENT and self.on_event is not None:
                self.on_event(envelope.data)
            return
        room = self.rooms.get(name)
        if room is not None:
            self._dispatch(room, envelope)
        elif name in self._opening:
            self._opening[name].append(envelope)

    def _dispatch(self, room: Room, envelope: Envelope) -> None:
        try:
            if envelope.kind == Kind.UPDATE:
                room.apply_remote(envelope.data)
            elif envelope.kind == Kind.AWARENESS:
                room.awareness_remote(envelope.data, envelope.origin, time.monotonic())
            elif envelope.kind == Kind.STATE:
                missing = room.missing_for(envelope.data)
                if missing is not None:  # they lack something we have: send it
                    self.bus.publish(room.name, Kind.UPDATE, missing)
        except (CrdtError, ProtocolError):
            log.warning("ignoring a broken %s from process %s", envelope.kind.name, envelope.origin)

    def publish_event(self, payload: bytes) -> None:
        """Send an application event to the other processes (call it on the event loop)."""
        self.bus.publish(CONTROL, Kind.EVENT, payload)

    def recheck_everywhere(self) -> None:
        """Tell the other processes that rights changed (this one re-checks by itself)."""
        self.bus.publish(CONTROL, Kind.RECHECK, b"")

    async def _exchange_loop(self) -> None:
        """The gap check: every few seconds each room says what it has (others answer with
        what it lacks) and forgets presence nobody renewed; now and then, and after the bus
        comes back, each room also re-reads its document from the database."""
        since_reload = 0.0
        while True:
            await anyio.sleep(self.exchange_interval)
            now = time.monotonic()
            for room in list(self.rooms.values()):
                self.bus.publish(room.name, Kind.STATE, room.doc.get_state())
                room.expire_remote(now, PRESENCE_TTL)
            since_reload += self.exchange_interval
            if since_reload >= self.reload_interval:
                since_reload = 0.0
                await self._reload_all()

    async def _reload_all(self) -> None:
        """Apply what the database holds to every open room (updates are idempotent: only what
        a room lacks changes it). Catches what the bus missed, deletions included."""
        for name in list(self.rooms):
            try:
                loaded = await anyio.to_thread.run_sync(self.store.load, name)
            except Exception:  # the store is down: the next round tries again
                log.warning("reloading %s from the store failed", name, exc_info=True)
                return
            room = self.rooms.get(name)
            if room is None:
                continue
            for update in loaded.updates:
                room.apply_remote(update)
            self.bus.publish(name, Kind.STATE, room.doc.get_state())

    def _pending_for(self, room: Room) -> bool:
        return any(p.room is room for p in self._pending)

    def connections(self) -> list[tuple[Room, Connection]]:
        return [(room, conn) for room in self.rooms.values() for conn in room.connections.values()]

    # Changes made by the server -------------------------------------------------------------
    def live_state(self, name: str) -> bytes | None:
        """The whole state of the open room `name` (None when it is not open); call it on the
        event loop, which alone touches a room's document."""
        room = self.rooms.get(name)
        return room.doc.get_update() if room is not None else None

    async def apply_server_update(
        self, name: str, update: bytes, user_id: int, origin: str = "restauration"
    ) -> bool:
        """Apply a change made on `user_id`'s behalf (a restore) and commit it, attributed to
        them with `origin` as the connection id. True once it is committed.

        An open room applies it and relays it to all its connections at once, and it goes
        through the group commit like any edit (False: the store failed, it stays pending and a
        later flush writes it). Without a room it is appended to the log directly. Both under
        the room's lock, so a room opening meanwhile loads it from the log rather than missing it.
        """
        lock = self._room_locks.setdefault(name, anyio.Lock())
        async with lock:
            room = self.rooms.get(name)
            if room is None:
                await self._append([Stored(name, user_id, origin, update)])
                self.stats.updates_stored += 1
                return True
            for stored in room.apply_server_update(update, user_id, origin):
                self._pending.append(_Pending(room, origin, stored))
            self._wake.set()
        return await self.flush()

    # Storing ---------------------------------------------------------------------------------
    def _on_stored(self, room: Room, conn: Connection, stored: Stored | None) -> None:
        self._pending.append(_Pending(room, conn.id, stored))
        self._wake.set()

    def _on_rejected(self) -> None:
        self.stats.rejected_writes += 1

    async def _flush_loop(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await anyio.sleep(self.flush_interval)  # let a group gather
            if await self.flush():
                backoff = 0.05
            else:
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                self._wake.set()  # try again

    async def flush(self) -> bool:
        """Commit everything pending; False if the store failed (the updates stay pending)."""
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            if not batch:
                return True
            # Every update a room applied is pending, so its state now is what this batch makes
            # durable: one state vector per room, taken before the commit lets more arrive.
            rooms = {id(p.room): p.room for p in batch}
            states = {key: room.doc.get_state() for key, room in rooms.items()}
            entries = [p.stored for p in batch if p.stored is not None]
            try:
                started = time.perf_counter()
                ids = await self._append(entries) if entries else []
                if entries and self.on_commit is not None:
                    self.on_commit(time.perf_counter() - started)
            except Exception:  # the flush loop's top-level handler: keep them for a retry
                log.warning("storing %d updates failed; will retry", len(batch), exc_info=True)
                self._pending = batch + self._pending
                self.stats.failed_flushes += 1
                return False
            self.stats.flushes += 1
            self.stats.updates_stored += len(entries)
            acks: dict[str, tuple[Room, set[str], bytes]] = {}
            row_ids = iter(ids)
            for pending in batch:
                name = pending.room.name
                if pending.stored is not None:
                    self._last_ids[name] = next(row_ids)
                    self._since_checkpoint[name] = self._since_checkpoint.get(name, 0) + 1
                senders = acks.get(name, (pending.room, set(), b""))[1]
                senders.add(pending.connection_id)
                acks[name] = (pending.room, senders, states[id(pending.room)])
            for room, senders, state_vector in acks.values():
                room.acknowledge(senders, state_vector)
            due = [
                room
                for room, _, _ in acks.values()
                if self._since_checkpoint.get(room.name, 0) >= self.checkpoint_every
            ]
        for room in due:
            await self._checkpoint(room)
        return True

    async def _append(self, entries: list[Stored]) -> list[int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._committer, self.store.append, entries)

    async def _checkpoint(self, room: Room) -> None:
        """Store the whole state up to the last stored update, so loading replays less."""
        state, upto = room.doc.get_update(), self._last_ids.get(room.name, 0)
        if upto == 0:
            return
        try:
            await anyio.to_thread.run_sync(self.store.checkpoint, room.name, state, upto)
        except Exception:  # a missed checkpoint costs load time, never data
            log.warning("checkpoint of %s failed", room.name, exc_info=True)
            return
        self._since_checkpoint[room.name] = 0

    # Permissions -----------------------------------------------------------------------------
    async def reevaluate(self, check: Callable[[Connection, str], Awaitable[Permission]]) -> None:
        """Apply changed rights to open connections at once."""
        for room, conn in self.connections():
            permission = await check(conn, room.name)
            if permission == conn.permission:
                continue
            previous, conn.permission = conn.permission, permission
            if permission == Permission.NONE:
                conn.channel.close(4403, "accès retiré")
            elif permission < previous:
                conn.channel.send(protocol.permission_denied("lecture seule"))
            else:
                # The page was rendered read-only: reconnecting refreshes it as a writer.
                conn.channel.close(4001, "droits modifiés")
