"""The SQL side of collab/: the attributed update log and checkpoints, on both backends."""

from __future__ import annotations

from pycrdt import Doc, Text
from sqlmodel import select

from app.collab_store import SqlStore
from app.db import Database
from app.models import DocUpdate
from collab.room import Stored

from .factories import user


def test_append_load_and_checkpoint(database: Database) -> None:
    with database.session() as session:
        author = user(session, "a@test.fr")
    store = SqlStore(database)
    doc = Doc()
    text = doc.get("t", type=Text)
    updates = []
    for word in ("un ", "deux ", "trois "):
        before = doc.get_state()
        text += word
        updates.append(doc.get_update(before))
    ids = store.append(
        [Stored("section-1", author.id or 0, f"c{i}", u) for i, u in enumerate(updates)]
    )
    assert ids == sorted(ids) and len(set(ids)) == 3
    with database.session() as session:
        rows = session.exec(select(DocUpdate).order_by(DocUpdate.id)).all()  # type: ignore[arg-type]
    assert [(r.user_id, r.connection_id) for r in rows] == [
        (author.id, "c0"),
        (author.id, "c1"),
        (author.id, "c2"),
    ]
    assert all(r.created_at is not None for r in rows)
    loaded = store.load("section-1")
    assert (loaded.last_id, loaded.since_checkpoint) == (ids[-1], 3)
    store.checkpoint("section-1", doc.get_update(), ids[1])
    tail = store.load("section-1")
    assert tail.since_checkpoint == 1 and len(tail.updates) == 2
    fresh = Doc()
    for update in tail.updates:
        fresh.apply_update(update)
    assert str(fresh.get("t", type=Text)) == "un deux trois "
    assert store.load("section-2").updates == []
