"""A room: one Y document, the connections to it, and the rules of the protocol.

No HTTP and no SQL here. A connection reaches the room through `Connection` (who it is, what it
may do, a `Channel` to send bytes back); the room hands what must be stored to its `on_stored`
hook, and the manager calls `acknowledge` once that is committed.

Rules enforced here:
- A connection joins the broadcast set only once its initial sync step 2 has been sent.
- Writes (sync step 2 and updates) from a read-only connection are never applied, stored or
  relayed. One that carries nothing the document lacks (an echo of the initial sync) is
  ignored silently; anything else gets the protocol's permission-denied message.
- Presence is stamped by the server: the `user` field others see is the authenticated
  account's, and a connection may only speak for the awareness client ids it introduced.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

from pycrdt import Doc, TransactionEvent, get_update

from collab import protocol
from collab.bus import Kind
from collab.protocol import AwarenessEntry, ProtocolError

log = logging.getLogger("arobase.collab")
_EMPTY_UPDATE = b"\x00\x00"
_EMPTY_STATE = b"\x00"


class Permission(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


@dataclass(frozen=True)
class Peer:
    """Who is behind a connection, as the gate authenticated them."""

    user_id: int
    name: str
    color: str
    session_id: str = ""


class Channel(Protocol):
    def send(self, data: bytes) -> None:
        """Queue `data` for the client without waiting (a full queue closes the connection)."""

    def send_later(self, data: bytes, within: float) -> None:
        """Queue `data` to go out with the next message to this client, or after `within`
        seconds at the latest; a newer one replaces it."""

    def close(self, code: int, reason: str) -> None:
        """Close the connection with a websocket close code."""


# How long a durable acknowledgement may wait for the next relay to its client, to share its
# write: in a busy room it nearly always rides along; « Enregistré » shows at most this late.
ACK_WAIT = 0.1

_ids = itertools.count(1)


@dataclass(eq=False)
class Connection:
    peer: Peer
    permission: Permission
    channel: Channel
    id: str = field(default_factory=lambda: f"c{next(_ids)}")
    synced: bool = False
    awareness_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Stored:
    """An update to persist: who sent it, through which connection, and the bytes."""

    doc_name: str
    user_id: int
    connection_id: str
    data: bytes


# Called with None when a writer's message brought nothing new: it still deserves to learn what
# is durable (after a reconnection its earlier acknowledgement may have gone to a dead socket).
StoredHook = Callable[["Room", Connection, "Stored | None"], None]


# Called with what other processes' rooms of the document must hear (see collab.bus).
RelayHook = Callable[[Kind, bytes], None]


def _no_relay(kind: Kind, data: bytes) -> None:
    return None


# Called when a read-only connection's write is refused (not for the echo of its initial sync).
RejectedHook = Callable[[], None]


def _no_rejection() -> None:
    return None


class CrdtError(ValueError):
    """The CRDT library refused the bytes (malformed update or state vector, or a panic)."""


@contextmanager
def crdt_guard(what: str) -> Iterator[None]:
    """Turn the CRDT library's refusals of client bytes into CrdtError.

    A Rust panic inside pycrdt surfaces as pyo3's PanicException, which derives from
    BaseException (so `except Exception` misses it) and cannot be imported by name.
    """
    try:
        yield
    except BaseException as exc:
        refusal = _as_refusal(exc, what)
        if refusal is None:
            raise
        raise refusal from exc


def _as_refusal(exc: BaseException, what: str) -> CrdtError | None:
    if isinstance(exc, ValueError):
        return CrdtError(what)
    if type(exc).__name__ == "PanicException":
        return CrdtError(f"{what} (panic)")
    return None


class Room:
    def __init__(
        self,
        name: str,
        doc: Doc[Any],
        on_stored: StoredHook,
        on_relay: RelayHook = _no_relay,
        on_rejected: RejectedHook = _no_rejection,
    ) -> None:
        self.name = name
        self.doc = doc
        self.connections: dict[str, Connection] = {}
        # The send functions of the synced connections, looked up once: a broadcast calls one
        # per recipient and nothing else.
        self._audience: dict[str, Callable[[bytes], None]] = {}
        self._on_stored = on_stored
        self._on_relay = on_relay  # what other processes' rooms of this document must hear
        self._on_rejected = on_rejected
        self._remote_seen: dict[int, float] = {}  # awareness ids of other processes: last heard
        self._captured: list[bytes] = []
        self._full_sync: bytes | None = None  # sync step 2 for a client that has nothing yet
        self._full_update: bytes | None = None  # the whole state, while nothing changes
        self._delete_set: tuple[bytes, dict[int, list[tuple[int, int]]]] | None = None
        self._awareness: dict[int, tuple[int, dict[str, Any], str]] = {}  # id → clock, state, conn
        self._subscription = doc.observe(self._capture)

    def _capture(self, event: TransactionEvent) -> None:
        self._captured.append(event.update)
        self._full_sync = self._full_update = None

    # Joining and leaving -------------------------------------------------------------------
    def join(self, conn: Connection) -> None:
        self.connections[conn.id] = conn
        conn.channel.send(protocol.sync_step1(self.doc.get_state()))
        if self._awareness:
            conn.channel.send(protocol.awareness(self._awareness_snapshot()))

    def leave(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        self._audience.pop(conn.id, None)
        gone = [
            AwarenessEntry(client_id, self._awareness.pop(client_id)[0] + 1, None)
            for client_id in list(conn.awareness_ids)
            if client_id in self._awareness
        ]
        if gone:
            payload = protocol.encode_awareness(gone)
            self._broadcast(protocol.awareness(payload))
            self._on_relay(Kind.AWARENESS, payload)

    @property
    def empty(self) -> bool:
        return not self.connections

    # Receiving -----------------------------------------------------------------------------
    def receive(self, conn: Connection, data: bytes) -> None:
        """Handle one message; raises ProtocolError or CrdtError for bytes that are broken."""
        message = protocol.decode(data)
        if message.type == protocol.SYNC:
            if message.step == protocol.SYNC_STEP1:
                conn.channel.send(self._sync_step2(message.payload))
                conn.synced = True
                self._audience[conn.id] = conn.channel.send
            else:
                self._write(conn, message.payload)
        elif message.type == protocol.AWARENESS:
            self._awareness_update(conn, message.payload)
        else:  # QUERY_AWARENESS
            conn.channel.send(protocol.awareness(self._awareness_snapshot()))

    def _sync_step2(self, state_vector: bytes) -> bytes:
        # Most joins start from an empty document: encode the whole state once for all of them
        # (until the next change), and send the same bytes object so it is framed once too.
        if state_vector == _EMPTY_STATE:
            if self._full_sync is None:
                self._full_sync = protocol.sync_step2(self._sync_source())
            return self._full_sync
        with crdt_guard("invalid state vector"):
            return protocol.sync_step2(self.doc.get_update(state_vector))

    def _write(self, conn: Connection, update: bytes) -> None:
        if conn.permission < Permission.WRITE:
            if not self._is_echo(update):
                self._on_rejected()
                conn.channel.send(protocol.permission_denied("lecture seule"))
            return
        self._captured.clear()
        try:  # crdt_guard, spelled out: a context manager costs more than the rest of this turn
            self.doc.apply_update(update)
        except BaseException as exc:
            refusal = _as_refusal(exc, "invalid update")
            if refusal is None:
                raise
            raise refusal from exc
        changes = [u for u in self._captured if u != _EMPTY_UPDATE]
        self._captured.clear()
        if not changes:
            self._on_stored(self, conn, None)
        for change in changes:
            self._broadcast(protocol.sync_update(change), skip=conn)
            self._on_relay(Kind.UPDATE, change)
            self._on_stored(self, conn, Stored(self.name, conn.peer.user_id, conn.id, change))

    def apply_server_update(self, update: bytes, user_id: int, origin: str) -> list[Stored]:
        """Apply a change the server makes on someone's behalf (a restore): relayed to every
        synced connection, and returned for storing under `origin` as its connection id."""
        changes = self._apply(update)
        for change in changes:
            self._broadcast(protocol.sync_update(change))
            self._on_relay(Kind.UPDATE, change)
        return [Stored(self.name, user_id, origin, change) for change in changes]

    # From other processes (collab.bus) ---------------------------------------------------------
    def apply_remote(self, update: bytes) -> bool:
        """Apply an update another process applied (and stores): relayed to every synced
        connection here, neither stored nor relayed back. True if it brought anything."""
        changes = self._apply(update)
        for change in changes:
            self._broadcast(protocol.sync_update(change))
        return bool(changes)

    def _apply(self, update: bytes) -> list[bytes]:
        """Apply `update`; the changes it made (what was new), as the document reports them."""
        self._captured.clear()
        with crdt_guard("invalid update"):
            self.doc.apply_update(update)
        changes = [u for u in self._captured if u != _EMPTY_UPDATE]
        self._captured.clear()
        return changes

    def missing_for(self, state_vector: bytes) -> bytes | None:
        """What this document has that a document at `state_vector` lacks, if it lacks any
        item (deletions alone are left to the reload from the database)."""
        with crdt_guard("invalid state vector"):
            update = self.doc.get_update(state_vector)
        return update if protocol.Reader(update).var_uint() else None

    def awareness_remote(self, payload: bytes, origin: str, now: float) -> None:
        """Presence from another process (stamped there): kept as that process's, relayed here."""
        owner = f"@{origin}"
        accepted = []
        for entry in protocol.decode_awareness(payload):
            current = self._awareness.get(entry.client_id)
            if current is not None and not current[2].startswith("@"):
                continue  # a connection of ours speaks for that id
            if entry.state is None:
                self._awareness.pop(entry.client_id, None)
                self._remote_seen.pop(entry.client_id, None)
            else:
                self._awareness[entry.client_id] = (entry.clock, entry.state, owner)
                self._remote_seen[entry.client_id] = now
            accepted.append(entry)
        if accepted:
            self._broadcast(protocol.awareness(protocol.encode_awareness(accepted)))

    def expire_remote(self, now: float, ttl: float) -> None:
        """Forget presence of other processes' clients not heard of for `ttl` seconds (their
        process died, or they left while the bus was down); clients renew theirs every 15 s."""
        stale = [cid for cid, seen in self._remote_seen.items() if now - seen > ttl]
        gone = []
        for client_id in stale:
            del self._remote_seen[client_id]
            entry = self._awareness.pop(client_id, None)
            if entry is not None:
                gone.append(AwarenessEntry(client_id, entry[0] + 1, None))
        if gone:
            self._broadcast(protocol.awareness(protocol.encode_awareness(gone)))

    def _is_echo(self, update: bytes) -> bool:
        """Does `update` bring nothing the document lacks, neither content nor deletions?
        (Never applied either way: this only decides whether to tell the client so.)

        Not from the update's own state vector: an incremental update, whose first item does
        not start at clock 0, has an empty one (its dependencies are missing in isolation).
        """
        try:
            with crdt_guard("invalid update"):
                news = get_update(update, self.doc.get_state())
            reader = protocol.Reader(news)
            if reader.var_uint() != 0:
                return False  # it inserts something we do not have
            theirs = _read_delete_set(reader)
            if not theirs:
                return True
            return _covers(self._deleted(), theirs)
        except (CrdtError, ProtocolError):
            return False

    def _deleted(self) -> dict[int, list[tuple[int, int]]]:
        """The document's own delete set (client → sorted (clock, length) ranges), cached
        until the next change like the full sync it is computed from."""
        if self._delete_set is None or self._delete_set[0] is not self._sync_source():
            full = self._sync_source()
            tail = protocol.Reader(get_update(full, self.doc.get_state()))
            tail.var_uint()  # no structs: the state vector covers them all
            self._delete_set = (full, _read_delete_set(tail))
        return self._delete_set[1]

    def _sync_source(self) -> bytes:
        if self._full_update is None:
            self._full_update = self.doc.get_update()
        return self._full_update

    # Presence ------------------------------------------------------------------------------
    def _awareness_update(self, conn: Connection, payload: bytes) -> None:
        accepted = []
        for entry in protocol.decode_awareness(payload):
            owner = self._awareness.get(entry.client_id)
            if owner is not None and owner[2] != conn.id:
                continue  # another connection's client id: no speaking for others
            if entry.state is None:
                self._awareness.pop(entry.client_id, None)
                conn.awareness_ids.discard(entry.client_id)
                accepted.append(entry)
                continue
            state = {**entry.state, "user": self._stamp(conn.peer)}
            self._awareness[entry.client_id] = (entry.clock, state, conn.id)
            conn.awareness_ids.add(entry.client_id)
            accepted.append(AwarenessEntry(entry.client_id, entry.clock, state))
        if accepted:
            payload = protocol.encode_awareness(accepted)
            self._broadcast(protocol.awareness(payload))
            self._on_relay(Kind.AWARENESS, payload)

    @staticmethod
    def _stamp(peer: Peer) -> dict[str, Any]:
        return {"name": peer.name, "color": peer.color, "id": peer.user_id}

    def _awareness_snapshot(self) -> bytes:
        return protocol.encode_awareness(
            [
                AwarenessEntry(cid, clock, state)
                for cid, (clock, state, _) in self._awareness.items()
            ]
        )

    def present(self) -> list[dict[str, Any]]:
        return [state["user"] for _, state, _ in self._awareness.values()]

    # Sending -------------------------------------------------------------------------------
    def _broadcast(self, data: bytes, skip: Connection | None = None) -> None:
        audience = self._audience
        if skip is None or skip.id not in audience:
            for send in audience.values():
                send(data)
            return
        own = audience.pop(skip.id)  # cheaper than comparing every recipient with the sender
        try:
            for send in audience.values():
                send(data)
        finally:
            audience[skip.id] = own

    def acknowledge(self, conn_ids: set[str], state_vector: bytes) -> None:
        """Tell the senders of committed updates which state is now durable."""
        message = protocol.durable(state_vector)
        for conn_id in conn_ids:
            conn = self.connections.get(conn_id)
            if conn is not None:
                conn.channel.send_later(message, ACK_WAIT)

    def close(self) -> None:
        self.doc.unobserve(self._subscription)


def _read_delete_set(reader: protocol.Reader) -> dict[int, list[tuple[int, int]]]:
    """The delete set that ends a Yjs v1 update: per client, (clock, length) ranges."""
    ranges: dict[int, list[tuple[int, int]]] = {}
    for _ in range(reader.var_uint()):
        client = reader.var_uint()
        ranges[client] = [(reader.var_uint(), reader.var_uint()) for _ in range(reader.var_uint())]
    return ranges


def _covers(
    ours: dict[int, list[tuple[int, int]]], theirs: dict[int, list[tuple[int, int]]]
) -> bool:
    """Is every range of `theirs` inside a range of `ours`? (Yjs keeps them sorted, merged.)"""
    for client, ranges in theirs.items():
        mine = ours.get(client, [])
        starts = [start for start, _ in mine]
        for clock, length in ranges:
            at = bisect.bisect_right(starts, clock) - 1
            if at < 0 or clock + length > mine[at][0] + mine[at][1]:
                return False
    return True


def is_protocol_error(exc: BaseException) -> bool:
    return isinstance(exc, ProtocolError | CrdtError)
