"""The SQL side of collab/: the attributed update log and checkpoints, on both backends."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text
from sqlmodel import select

from app.collab_store import SqlStore
from app.db import Database
from app.models import AuditEvent, DocUpdate, Section, SectionStatus
from app.services import audit
from collab.room import Stored

from .factories import user, world


def test_append_load_and_checkpoint(database: Database) -> None:
    with database.session() as session:
        author = user(session, "a@test.fr")
    store = SqlStore(database, settle=0)  # every row counts as settled at once
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
    assert ids == [r.id for r in rows]  # each entry learns the id of its own row
    assert all(r.created_at is not None and r.created_at.tzinfo is not None for r in rows)
    assert all(r.edits == 1 and r.data == u for r, u in zip(rows, updates, strict=True))
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


@pytest.mark.postgres
def test_a_checkpoint_never_hides_rows_another_process_wrote(postgres_url: str) -> None:
    """Two processes append to one log; the one checkpointing lacks the other's last row."""
    database = Database(postgres_url)
    try:
        with database.session() as session:
            author = user(session, "a@test.fr")
        store = SqlStore(database, settle=0)
        ours, theirs = Doc(), Doc()
        ours.get("t", type=Text).insert(0, "nous ")
        theirs.get("u", type=Text).insert(0, "eux")
        ids = store.append(
            [
                Stored("section-1", author.id or 0, "ici", ours.get_update()),
                Stored("section-1", author.id or 0, "ailleurs", theirs.get_update()),
            ]
        )
        store.checkpoint("section-1", ours.get_update(), ids[-1])  # our state only
        fresh = Doc()
        for update in store.load("section-1").updates:
            fresh.apply_update(update)
        assert str(fresh.get("u", type=Text)) == "eux"
        assert str(fresh.get("t", type=Text)) == "nous "
    finally:
        database.dispose()


def test_the_first_saved_edit_starts_the_section_once(database: Database) -> None:
    with database.session() as session:
        w = world(session)
        first, second = (s.id or 0 for s in w.sections[:2])
        settled = session.get(Section, second)
        assert settled is not None
        settled.statut = SectionStatus.validee  # already moved on: left where it is
        session.add(settled)
    author = w.producteur.id or 0
    store = SqlStore(database)
    doc = Doc()
    text = doc.get("t", type=Text)
    text += "premier mot"
    update = doc.get_update()
    store.append([Stored(f"section-{first}", author, "c1", update)])
    store.append([Stored(f"section-{first}", author, "c1", update)])  # a later commit
    store.append([Stored(f"section-{second}", author, "c1", update)])
    with database.session() as session:
        statuses = [session.get(Section, i).statut for i in (first, second)]  # type: ignore[union-attr]
        events = session.exec(select(AuditEvent).where(AuditEvent.kind == "section.statut")).all()
    assert statuses == [SectionStatus.en_cours, SectionStatus.validee]
    assert [(e.target, e.actor_id, e.data["to"]) for e in events] == [
        (f"section:{first}", author, "en_cours")
    ]


def test_one_commit_starting_several_sections_credits_each_to_its_author(
    database: Database,
) -> None:
    with database.session() as session:
        w = world(session)
        first, second = (s.id or 0 for s in w.sections[:2])
    alice, bob = w.producteur.id or 0, w.referent.id or 0
    doc = Doc()
    text = doc.get("t", type=Text)
    text += "mot"
    update = doc.get_update()
    SqlStore(database).append(
        [
            Stored(f"section-{first}", alice, "c1", update),
            Stored(f"section-{second}", bob, "c2", update),
            Stored(f"section-{first}", bob, "c2", update),  # not its first: no second event
        ]
    )
    with database.session() as session:
        statuses = [session.get(Section, i).statut for i in (first, second)]  # type: ignore[union-attr]
        events = session.exec(select(AuditEvent).where(AuditEvent.kind == "section.statut")).all()
        report = audit.verify(session)
    assert statuses == [SectionStatus.en_cours, SectionStatus.en_cours]
    assert sorted((e.target, e.actor_id) for e in events) == sorted(
        [(f"section:{first}", alice), (f"section:{second}", bob)]
    )
    assert report.broken_at is None  # events written in one transaction still chain


def test_a_group_that_cannot_be_stored_leaves_nothing_and_the_next_one_is_stored(
    database: Database,
) -> None:
    with database.session() as session:
        author = user(session, "a@test.fr")
    store = SqlStore(database)
    good = Stored("section-1", author.id or 0, "c1", b"\x00\x00")
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        store.append([good, Stored("section-1", 999_999, "c2", b"\x00\x00")])  # no such person
    assert store.count("section-1") == 0  # all or nothing: the manager keeps them for a retry
    ids = store.append([good, good])
    with database.session() as session:
        stored = session.exec(select(DocUpdate.id).order_by(DocUpdate.id)).all()  # type: ignore[arg-type]
    assert ids == list(stored) and len(ids) == 2
