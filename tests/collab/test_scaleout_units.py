"""Two guarantees of running several processes, each checked on its own mechanism.

The checkpoint of a document is written by one process at a time, guarded by a PostgreSQL
advisory lock; and the periodic state-vector exchange between processes heals, by itself, an
update that one process never heard. Real PostgreSQL and real Redis, no server process: each
"process" is a store (and a Manager) with an engine of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import psycopg
import pytest
import redis
from pycrdt import Doc, Text
from sqlmodel import col, select

from app.collab_store import SqlStore
from app.db import Database
from app.models import DocCheckpoint
from app.services import documents
from collab import protocol
from collab.bus import RedisBus
from collab.manager import Manager
from collab.room import Room, Stored

from ..app.factories import user
from .test_cluster import REDIS_URL
from .test_manager import connection, synced
from .yclient import run

pytestmark = pytest.mark.postgres

DOC = "section-1"
PROMPT = 5.0  # seconds: far more than any of these calls takes when it does not wait


def edit(doc: Doc[Any], words: str) -> bytes:
    before = doc.get_state()
    doc.get("t", type=Text).insert(len(doc.get("t", type=Text)), words)
    return doc.get_update(before)


def checkpoints(database: Database) -> list[DocCheckpoint]:
    with database.session() as session:
        query = select(DocCheckpoint).where(DocCheckpoint.doc_name == DOC)
        return list(session.exec(query.order_by(col(DocCheckpoint.id))).all())


class Held:
    """`documents.stored_updates`, held on its first call until `go_on` is set: the first
    checkpoint then sits inside its locked transaction for as long as the test needs."""

    def __init__(self) -> None:
        self.original = documents.stored_updates
        self.entered, self.go_on = threading.Event(), threading.Event()

    def __call__(self, session: Any, doc_name: str) -> tuple[list[bytes], int, int]:
        if not self.entered.is_set():
            self.entered.set()
            assert self.go_on.wait(PROMPT * 2), "the test never let the first checkpoint go on"
        return self.original(session, doc_name)


def test_a_checkpoint_is_skipped_while_another_holds_the_documents_lock_and_written_once_after(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, elsewhere = Database(postgres_url), Database(postgres_url)
    try:
        with database.session() as session:
            author = user(session, "a@test.fr").id or 0
        store = SqlStore(database, settle=0)  # every row counts as settled at once
        doc: Doc[Any] = Doc()
        rows = [Stored(DOC, author, "c1", edit(doc, w)) for w in ("un ", "deux ", "trois ")]
        upto = store.append(rows)[-1]

        # The pool is left last: the holder's connection closes (releasing the lock) before the
        # pool waits for its threads, so a checkpoint that blocked on the lock cannot hang here.
        with (
            ThreadPoolExecutor(2) as pool,
            psycopg.connect(postgres_url, autocommit=True) as holder,
        ):
            # The key exactly as the store computes it (the history's squashing takes it too).
            holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (DOC,))
            attempt = pool.submit(store.checkpoint, DOC, doc.get_update(), upto)
            assert attempt.result(timeout=PROMPT) is None  # returned at once, without an error
            assert checkpoints(database) == []
            unlocked = holder.execute("SELECT pg_advisory_unlock(hashtext(%s))", (DOC,))
            assert unlocked.fetchone() == (True,)

        store.checkpoint(DOC, doc.get_update(), upto)
        (written,) = checkpoints(database)
        assert written.upto_update_id == upto
        rebuilt: Doc[Any] = Doc()
        rebuilt.apply_update(written.data)
        assert rebuilt.get_state() == doc.get_state()
        assert str(rebuilt.get("t", type=Text)) == "un deux trois "
        assert store.load(DOC).since_checkpoint == 0

        # Two processes' stores at once: the first is held inside its locked transaction while
        # the second attempts (threads racing freely would rarely overlap at all).
        later = store.append([Stored(DOC, author, "c1", edit(doc, "quatre"))])[-1]
        held = Held()
        monkeypatch.setattr(documents, "stored_updates", held)
        other = SqlStore(elsewhere, settle=0)
        with ThreadPoolExecutor(2) as pool:
            try:
                first = pool.submit(store.checkpoint, DOC, doc.get_update(), later)
                assert held.entered.wait(PROMPT)
                second = pool.submit(other.checkpoint, DOC, doc.get_update(), later)
                assert second.result(timeout=PROMPT) is None
            finally:
                held.go_on.set()
            assert first.result(timeout=PROMPT) is None
        assert [c.upto_update_id for c in checkpoints(database)] == [upto, later]
    finally:
        database.dispose()
        elsewhere.dispose()


EXCHANGE = 0.25  # seconds between two rounds of the gap check


def text_of(room: Room) -> str:
    return str(room.doc.get("t", type=Text))


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    with anyio.move_on_after(timeout) as scope:
        while not condition():
            await anyio.sleep(0.02)
    if scope.cancelled_caught:
        raise AssertionError(f"{what}: not within {timeout} s")


def test_the_state_vector_exchange_alone_brings_another_process_what_it_missed(
    postgres_url: str,
) -> None:
    database, elsewhere = Database(postgres_url), Database(postgres_url)
    with database.session() as session:
        author = user(session, "a@test.fr").id or 0
    prefix = f"arobase:test-{uuid.uuid4().hex[:12]}:"  # no other test's processes hear these
    probe = redis.Redis.from_url(REDIS_URL)

    def listeners() -> int:
        return int(probe.pubsub_numsub(f"{prefix}control")[0][1])

    def process(db: Database) -> Manager:
        # The reload from the database would heal the gap too: pushed far beyond the test.
        return Manager(
            SqlStore(db),
            bus=RedisBus(REDIS_URL, prefix),
            exchange_interval=EXCHANGE,
            reload_interval=3600.0,
        )

    one, two = process(database), process(elsewhere)

    async def scenario() -> None:
        async with one.running(), two.running():
            # A room opened before its bus is connected may miss its subscription: wait.
            await until(lambda: listeners() == 2, PROMPT, "both buses connected")
            here, there = connection(1), connection(2)
            room_one, room_two = await one.join(DOC, here), await two.join(DOC, there)
            synced(room_one, here)
            synced(room_two, there)

            # A third process stored an update and relayed it; only the first process heard it
            # (`apply_remote` is that path: applied and shown here, neither stored nor relayed).
            third: Doc[Any] = Doc()
            missed = edit(third, "entendu d'un seul")
            SqlStore(database).append([Stored(DOC, author, "ailleurs", missed)])
            assert room_one.apply_remote(missed)
            assert text_of(room_two) == ""

            await until(
                lambda: text_of(room_two) == "entendu d'un seul",
                8 * EXCHANGE,
                "the exchange healing the second process",
            )
            client: Doc[Any] = Doc()  # and the second process's own client got it from its room
            for sent in there.channel.sent:  # type: ignore[attr-defined]
                message = protocol.decode(sent)
                if message.type == protocol.SYNC and message.step != protocol.SYNC_STEP1:
                    client.apply_update(message.payload)
            assert str(client.get("t", type=Text)) == "entendu d'un seul"

    try:
        run(scenario())
    finally:
        probe.close()
        database.dispose()
        elsewhere.dispose()
