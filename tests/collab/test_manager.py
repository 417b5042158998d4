"""The manager without a socket: group commit, acks only after commit, outages, checkpoints,
and convergence of concurrent editors whatever the order messages arrive in."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import pytest
from pycrdt import Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab import protocol
from collab.manager import Manager
from collab.room import Connection, Peer, Permission, Room
from collab.store import MemoryStore

from .yclient import run


class Recorder:
    """A Channel that keeps what the room sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed: tuple[int, str] | None = None

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def send_later(self, data: bytes, within: float) -> None:
        self.sent.append(data)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def durable(self) -> list[bytes]:
        return [m for m in self.sent if m[0] == protocol.DURABLE]


def connection(user_id: int = 1, permission: Permission = Permission.WRITE) -> Connection:
    return Connection(Peer(user_id, f"u{user_id}", "#000"), permission, Recorder())


def edit(doc: Doc[Any], text: str) -> bytes:
    before = doc.get_state()
    doc.get("t", type=Text).insert(0, text)
    return doc.get_update(before)


def synced(room: Any, conn: Connection) -> None:
    room.receive(conn, protocol.sync_step1(b"\x00"))


@pytest.mark.parametrize("interval", [0.005])
def test_acks_follow_the_commit_and_outages_delay_them(interval: float) -> None:
    async def scenario() -> None:
        store = MemoryStore(fail=True)
        manager = Manager(store, flush_interval=interval)
        async with manager.running():
            conn = connection()
            room = await manager.join("section-1", conn)
            synced(room, conn)
            client = Doc()
            room.receive(conn, protocol.sync_update(edit(client, "bonjour")))
            await anyio.sleep(0.2)
            assert conn.channel.durable() == []  # type: ignore[attr-defined]
            assert manager.stats.failed_flushes >= 1
            store.fail = False  # the database is back
            with anyio.fail_after(5):
                while not conn.channel.durable():  # type: ignore[attr-defined]
                    await anyio.sleep(0.01)
            assert len(store.rows) == 1
            ack = protocol.Reader(conn.channel.durable()[-1][1:]).var_bytes()  # type: ignore[attr-defined]
            assert ack == room.doc.get_state()

    run(scenario())


def test_one_transaction_for_many_rooms() -> None:
    async def scenario() -> None:
        calls: list[int] = []
        store = MemoryStore()
        original = store.append

        def counting(entries: list[Any]) -> list[int]:
            calls.append(len(entries))
            return original(entries)

        store.append = counting  # type: ignore[method-assign]
        manager = Manager(store, flush_interval=0.05)
        async with manager.running():
            for n in range(5):
                conn = connection()
                room = await manager.join(f"section-{n}", conn)
                synced(room, conn)
                room.receive(conn, protocol.sync_update(edit(Doc(), f"r{n}")))
            with anyio.fail_after(5):
                while sum(calls) < 5:
                    await anyio.sleep(0.01)
        assert calls[0] == 5  # all five rooms in the first flush

    run(scenario())


def test_rooms_reload_from_checkpoint_and_tail() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        manager = Manager(store, flush_interval=0.001, checkpoint_every=3)
        client = Doc()
        async with manager.running():
            conn = connection()
            room = await manager.join("section-9", conn)
            synced(room, conn)
            for word in ("un ", "deux ", "trois ", "quatre "):
                room.receive(conn, protocol.sync_update(edit(client, word)))
                await manager.flush()
            await manager.leave(room, conn)
            assert "section-9" not in manager.rooms
        assert "section-9" in store.checkpoints
        reopened = Manager(store)
        async with reopened.running():
            conn = connection()
            room = await reopened.join("section-9", conn)
            assert str(room.doc.get("t", type=Text)) == str(client.get("t", type=Text))

    run(scenario())


def test_joins_from_nothing_share_one_encoding_until_the_next_change() -> None:
    async def scenario() -> None:
        manager = Manager(MemoryStore())
        writer, first, second, third = (connection(n) for n in range(1, 5))
        room = await manager.join("section-1", writer)
        for conn in (first, second):
            await manager.join("section-1", conn)
            synced(room, conn)
        step2 = [c.channel.sent[-1] for c in (first, second)]  # type: ignore[attr-defined]
        assert step2[0] is step2[1]  # encoded once, sent twice
        source = Doc()
        room.receive(writer, protocol.sync_update(edit(source, "nouveau")))
        await manager.join("section-1", third)
        synced(room, third)
        fresh = Doc()
        payload = protocol.decode(third.channel.sent[-1]).payload  # type: ignore[attr-defined]
        fresh.apply_update(payload)
        assert str(fresh.get("t", type=Text)) == "nouveau"  # the change reached the newcomer

    run(scenario())


def test_a_short_tail_is_not_checkpointed_on_unload_and_still_reloads() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        client = Doc()
        async with Manager(store, flush_interval=0.001, checkpoint_every=500).running() as m:
            conn = connection()
            room = await m.join("section-8", conn)
            synced(room, conn)
            for word in ("un ", "deux "):
                room.receive(conn, protocol.sync_update(edit(client, word)))
            await m.leave(room, conn)
        assert "section-8" not in store.checkpoints  # two updates: cheaper to replay than store
        async with Manager(store).running() as reopened:
            room = await reopened.join("section-8", connection())
            assert str(room.doc.get("t", type=Text)) == str(client.get("t", type=Text))

    run(scenario())


# Random concurrent editing, delivered as websockets deliver ----------------------------------
SEEDS = [20261129, 1, 7, 3, 1789, 5, 271828, 99991]  # 3 to 5 writers among them
ROOM = "section-5"


class Wire:
    """A Channel as the direct transport (collab.transport.DirectLink) behaves: what the room
    sends during one loop turn is written at its end, a message sent to wait (`send_later`)
    going first or alone once its time is up; then it all reaches the client in order (a
    websocket is FIFO), however late the test delivers it."""

    def __init__(self) -> None:
        self.turn: list[bytes] = []
        self.later: bytes | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.in_flight: deque[bytes] = deque()

    def send(self, data: bytes) -> None:
        if not self.turn:
            asyncio.get_running_loop().call_soon(self._write)
        self.turn.append(data)

    def send_later(self, data: bytes, within: float) -> None:
        self.later = data
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(within, self._write)

    def _write(self) -> None:
        if self.later is not None:
            self.in_flight.append(self.later)
            self.later = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.in_flight.extend(self.turn)
        self.turn.clear()

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"connection closed: {code} {reason}")


@dataclass(eq=False)
class Client:
    """A y-websocket client: its Doc, its connection, what it sent that is still on the way."""

    doc: Doc[Any]
    conn: Connection
    letters: str  # what it types: the reader types "#", which must show up nowhere
    outbox: deque[bytes] = field(default_factory=deque)
    own: list[bytes] = field(default_factory=list)  # the updates it made, in order
    acks: list[bytes] = field(default_factory=list)
    denials: int = 0
    joined: bool = False

    @property
    def wire(self) -> Wire:
        return cast(Wire, self.conn.channel)

    @property
    def busy(self) -> bool:
        wire = self.wire
        return bool(self.outbox or wire.in_flight or wire.turn or wire.later is not None)

    def edit(self, rng: random.Random) -> None:
        before = self.doc.get_state()
        with self.doc.transaction():
            random_edit(rng, self.doc, self.letters)
        update = self.doc.get_update(before)
        self.own.append(update)
        if self.joined:  # offline edits go with the sync step 2 that answers the room's step 1
            self.outbox.append(protocol.sync_update(update))

    def hear(self, data: bytes) -> None:
        reader = protocol.Reader(data)
        kind = reader.var_uint()
        if kind == protocol.SYNC:
            step, payload = reader.var_uint(), reader.var_bytes()
            if step == protocol.SYNC_STEP1:
                self.outbox.append(protocol.sync_step2(self.doc.get_update(payload)))
            else:
                self.doc.apply_update(payload)
        elif kind == protocol.DURABLE:
            self.acks.append(reader.var_bytes())
        elif kind == protocol.AUTH:
            reader.var_uint()
            reader.var_string()
            self.denials += 1
        else:
            raise AssertionError(f"unexpected message type {kind}")
        reader.end()


def random_edit(rng: random.Random, doc: Doc[Any], letters: str) -> None:
    """One edit of a section as the product holds it: a text, short answers, a rich answer."""
    text, answers = doc.get("t", type=Text), doc.get("answers", type=Map)
    fragment = doc.get("reponse", type=XmlFragment)
    paragraphs = list(fragment.children)
    typed = "".join(rng.choice(letters) for _ in range(rng.randint(1, 3)))
    roll = rng.random()
    if roll < 0.2:
        text.insert(rng.randint(0, len(text)), typed)
    elif roll < 0.3 and len(text):
        start = rng.randrange(len(text))
        del text[start : min(len(text), start + rng.randint(1, 3))]
    elif roll < 0.45:
        answers[rng.choice("xyz")] = rng.choice([typed, rng.randrange(100), rng.random() < 0.5])
    elif roll < 0.55 or not paragraphs:
        paragraph = XmlElement("paragraph", {}, [XmlText(typed)])
        fragment.children.insert(rng.randint(0, len(paragraphs)), paragraph)
    elif roll < 0.6 and len(paragraphs) > 1:
        del fragment.children[rng.randrange(len(paragraphs))]
    else:
        node = rng.choice(paragraphs).children[0]
        assert isinstance(node, XmlText)
        size, start = len(node), rng.randint(0, len(node))
        if roll < 0.8 or not size:
            node.insert(start, typed)
            return
        start = min(start, size - 1)
        end = min(size, start + rng.randint(1, 4))
        if roll < 0.9:
            del node[start:end]
        else:
            node.format(start, end, {"bold": {}})


class Durable:
    """The store's log replayed as it grows: what is committed at this moment."""

    def __init__(self, store: MemoryStore) -> None:
        self.store, self.doc, self.read = store, Doc(), 0

    def clocks(self) -> dict[int, int]:
        rows = self.store.rows[self.read :]
        for _, stored in rows:
            self.doc.apply_update(stored.data)
        self.read += len(rows)
        return clocks(self.doc.get_state())


def deliver(rng: random.Random, room: Room, client: Client, durable: Durable) -> None:
    """Some of what is on the way between `client` and the room, one way, oldest first."""
    count = rng.randint(1, 4)
    if rng.random() < 0.5:
        for _ in range(min(count, len(client.outbox))):
            room.receive(client.conn, client.outbox.popleft())
        return
    in_flight = client.wire.in_flight
    while count and in_flight:
        data = in_flight.popleft()
        client.hear(data)
        if data[0] == protocol.DURABLE:  # « Enregistré » only for what is committed
            assert covers(durable.clocks(), clocks(client.acks[-1]))
        else:  # acks come whenever a commit ends: not counting them keeps the run the same
            count -= 1


async def join(manager: Manager, client: Client) -> Room:
    room = await manager.join(ROOM, client.conn)
    client.outbox.append(protocol.sync_step1(client.doc.get_state()))
    client.joined = True
    return room


async def drain(
    rng: random.Random, manager: Manager, room: Room, clients: list[Client], durable: Durable
) -> None:
    """Deliver everything on the way, commit, and again, until nothing moves any more."""
    with anyio.fail_after(5):
        while any(c.busy for c in clients):
            while ready := [c for c in clients if c.outbox or c.wire.in_flight]:
                deliver(rng, room, rng.choice(ready), durable)
                await asyncio.sleep(0)  # the wires write what this turn sent
            await manager.flush()  # commits what the room applied: the acks are sent
            await anyio.sleep(0.001)  # an ack sent to wait goes when its timer is up


def clocks(state_vector: bytes) -> dict[int, int]:
    reader = protocol.Reader(state_vector)
    pairs = {}
    for _ in range(reader.var_uint()):
        client_id = reader.var_uint()
        pairs[client_id] = reader.var_uint()
    return pairs


def covers(bigger: dict[int, int], smaller: dict[int, int]) -> bool:
    return all(bigger.get(client_id, 0) >= clock for client_id, clock in smaller.items())


def content(doc: Doc[Any]) -> tuple[str, dict[str, Any], str, dict[int, int]]:
    answers = doc.get("answers", type=Map).to_py()
    fragment = str(doc.get("reponse", type=XmlFragment))
    return str(doc.get("t", type=Text)), answers, fragment, clocks(doc.get_state())


def merged(updates: list[bytes]) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


def new_client(n: int, client_id: int, permission: Permission, letters: str) -> Client:
    conn = Connection(Peer(n, f"u{n}", "#000"), permission, Wire())
    return Client(Doc(client_id=client_id), conn, letters)


async def edit_concurrently(seed: int, store: MemoryStore) -> tuple[list[Client], Client, Room]:
    """Writers and a read-only client join at random moments (earlier edits go with their
    first sync) and edit while messages are on the way. Each step delivers a few messages of
    random connections, one direction at a time, oldest first: FIFO per connection, random
    across connections, and nothing dropped."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, 1 << 32), 6)  # distinct 32-bit client ids, as the editor's
    count = rng.randint(3, 5)
    writers = [new_client(n + 1, ids[n], Permission.WRITE, "abcd ") for n in range(count)]
    reader = new_client(99, ids[-1], Permission.READ, "#")
    clients, durable = [*writers, reader], Durable(store)
    async with Manager(store, flush_interval=0.001).running() as manager:
        room = await join(manager, writers[0])
        for _ in range(240):
            waiting = [c for c in clients if not c.joined]
            if waiting and rng.random() < 0.08:
                await join(manager, rng.choice(waiting))
            if rng.random() < 0.7:
                rng.choice(clients).edit(rng)
            for _ in range(rng.randint(0, 3)):
                deliver(rng, room, rng.choice(clients), durable)
            await asyncio.sleep(0)  # the wires write what this turn sent
        for late in clients:
            if not late.joined:
                await join(manager, late)
        await drain(rng, manager, room, clients, durable)
    return writers, reader, room


@pytest.mark.parametrize("seed", SEEDS)
def test_random_concurrent_edits_converge(seed: int) -> None:
    """Whatever the interleaving, with nothing dropped and no sync at the end to heal it:
    every writer has the room's document, which is exactly what the writers made, acked and
    stored; the read-only client's writes are nowhere, yet it sees everything."""
    store = MemoryStore()
    outcome: list[tuple[list[Client], Client, Room]] = []

    async def scenario() -> None:
        outcome.append(await edit_concurrently(seed, store))

    run(scenario())
    [(writers, reader, room)] = outcome
    expected = content(merged([u for w in writers for u in w.own]))
    assert content(room.doc) == expected  # nothing lost, nothing the reader wrote
    for n, writer in enumerate(writers):
        assert content(writer.doc) == expected, f"writer {n} diverged"
        own = {writer.doc.client_id: clocks(writer.doc.get_state()).get(writer.doc.client_id, 0)}
        assert writer.acks and covers(clocks(writer.acks[-1]), own), f"writer {n} not acked"
        acked = [clocks(ack) for ack in writer.acks]
        assert all(covers(b, a) for a, b in itertools.pairwise(acked))  # never goes back
    assert reader.doc.client_id not in expected[3]
    assert "#" not in repr(expected[:3])
    assert reader.denials > 0 and reader.acks == []
    assert content(reader.doc) == content(merged([u for c in [*writers, reader] for u in c.own]))
    assert content(merged(store.load(ROOM).updates)) == expected  # the log replays to it
    assert {s.connection_id for _, s in store.rows} <= {w.conn.id for w in writers}
