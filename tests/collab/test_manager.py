"""The manager without a socket: group commit, acks only after commit, outages, checkpoints."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Map, Text

from collab import protocol
from collab.manager import Manager
from collab.room import Connection, Peer, Permission
from collab.store import MemoryStore

from .yclient import run


class Recorder:
    """A Channel that keeps what the room sends."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed: tuple[int, str] | None = None

    def send(self, data: bytes) -> None:
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


def test_random_concurrent_edits_converge() -> None:
    """Several clients edit concurrently in random order; server and clients converge."""
    rng = random.Random(20261129)

    async def scenario() -> None:
        manager = Manager(MemoryStore(), flush_interval=0.001)
        async with manager.running():
            conns = [connection(user_id=i) for i in range(4)]
            docs = [Doc(client_id=1000 + i) for i in range(4)]
            room = await manager.join("section-5", conns[0])
            for conn in conns[1:]:
                room.join(conn)
            for conn in conns:
                synced(room, conn)
            outbox: list[tuple[int, bytes]] = []
            for _ in range(300):
                i = rng.randrange(4)
                doc, before = docs[i], docs[i].get_state()
                if rng.random() < 0.5:
                    text = doc.get("t", type=Text)
                    if len(text) and rng.random() < 0.3:
                        start = rng.randrange(len(text))
                        del text[start : min(len(text), start + rng.randint(1, 3))]
                    else:
                        text.insert(rng.randint(0, len(text)), rng.choice("abcd "))
                else:
                    doc.get("answers", type=Map)[rng.choice("xyz")] = rng.random()
                outbox.append((i, doc.get_update(before)))
                if rng.random() < 0.3:  # deliver a random subset of what is in flight
                    rng.shuffle(outbox)
                    for sender, update in outbox[: rng.randint(1, len(outbox))]:
                        room.receive(conns[sender], protocol.sync_update(update))
                    outbox = outbox[rng.randint(1, len(outbox)) :] if outbox else []
            for sender, update in outbox:
                room.receive(conns[sender], protocol.sync_update(update))
            for i, doc in enumerate(docs):  # each client catches up through a sync
                doc.apply_update(room.doc.get_update(doc.get_state()))
                room.receive(conns[i], protocol.sync_step2(doc.get_update(room.doc.get_state())))
            for doc in docs:
                doc.apply_update(room.doc.get_update(doc.get_state()))
            expected = str(room.doc.get("t", type=Text))
            assert all(str(d.get("t", type=Text)) == expected for d in docs)
            maps = [d.get("answers", type=Map).to_py() for d in docs]
            assert all(m == room.doc.get("answers", type=Map).to_py() for m in maps)

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
