"""History on the real update log (SQLite and PostgreSQL): timelines, past states, diffs,
authorship under concurrent editing, restores, squashing and contributions.

Editors are pycrdt documents whose every transaction is one update, as a browser sends it; the
"server" stores those updates in the order they reach it, at times the test chooses.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from pycrdt import Doc, Map, XmlElement, XmlFragment, XmlText
from sqlmodel import Session, col, select

from app.db import Database
from app.models import DocCheckpoint, DocUpdate, Question, Section, User, Version, VersionSection
from app.services import documents, history, richtext
from app.services.answers import ANSWERS_MAP
from app.services.history_log import CHECKPOINT_SPACING, questions_of
from app.services.history_text import changes
from collab.manager import new_doc

from .factories import World, world

T0 = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)
STRATEGY = "gouvernance.strategie"


class Editor:
    """A pycrdt client: each of its transactions is one update sent to the server."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.doc = new_doc()
        self.outbox: list[bytes] = []
        self._receiving = False
        self.doc.observe(self._send)

    def _send(self, event: Any) -> None:
        if not self._receiving:
            self.outbox.append(event.update)

    def receive(self, updates: list[bytes]) -> None:
        self._receiving = True
        try:
            for update in updates:
                self.doc.apply_update(update)
        finally:
            self._receiving = False

    @property
    def fragment(self) -> XmlFragment:
        return self.doc.get(STRATEGY, type=XmlFragment)

    def paragraph(self, index: int) -> XmlText:
        text = self.fragment.children[index].children[0]  # type: ignore[union-attr]
        assert isinstance(text, XmlText)
        return text

    def add_paragraph(self, text: str) -> None:
        self.fragment.children.append(XmlElement("paragraph", {}, [XmlText(text)]))

    def insert(
        self, paragraph: int, at: int, text: str, attrs: dict[str, Any] | None = None
    ) -> None:
        """Insert at a character offset (pycrdt counts text offsets in UTF-8 bytes)."""
        node = self.paragraph(paragraph)
        node.insert(len(plain(node)[:at].encode()), text, attrs)

    def delete(self, paragraph: int, start: int, end: int) -> None:
        node = self.paragraph(paragraph)
        before = plain(node)
        del node[len(before[:start].encode()) : len(before[:end].encode())]

    def type(self, paragraph: int, at: int, words: str) -> None:
        """Type word by word, one update per word."""
        for piece in re.findall(r"\s*\S+|\s+$", words):
            self.insert(paragraph, at, piece)
            at += len(piece)

    def answer(self, key: str, value: Any) -> None:
        self.doc.get(ANSWERS_MAP, type=Map)[key] = value


def plain(node: XmlText) -> str:
    return "".join(chunk for chunk, _ in node.diff())


@dataclass
class Server:
    """Stores what editors send, in the order it arrives, at the times given."""

    database: Database
    doc_name: str
    clock: datetime = T0
    ids: list[int] = field(default_factory=list)

    def store(self, editor: Editor, *, after: timedelta = timedelta(seconds=3)) -> list[int]:
        """Store the editor's pending updates, `after` apart from each other."""
        updates, editor.outbox = editor.outbox, []
        stored: list[int] = []
        with self.database.session() as session:
            for update in updates:
                self.clock += after
                row = documents.append_update(session, self.doc_name, update, editor.user.id)
                row.created_at = self.clock
                assert row.id is not None
                stored.append(row.id)
        self.ids += stored
        return stored

    def wait(self, delay: timedelta) -> None:
        self.clock += delay


@dataclass
class Scene:
    database: Database
    world: World
    section: Section
    questions: list[Question]
    server: Server

    def session(self) -> AbstractContextManager[Session]:
        return self.database.session()

    @property
    def doc_name(self) -> str:
        return self.section.doc_name

    def editor(self, user: User, synced: bool = True) -> Editor:
        editor = Editor(user)
        if synced:
            with self.session() as session:
                editor.receive([documents.load(session, self.doc_name).get_update()])
        return editor


@pytest.fixture
def scene(database: Database) -> Scene:
    with database.session() as session:
        w = world(session)
        section = w.sections[0]
        questions = questions_of(session, section.doc_name)
    return Scene(database, w, section, questions, Server(database, section.doc_name))


def exchange(*editors: Editor, server: Server) -> None:
    """Each editor's pending updates reach the server (in the order given) and the others."""
    sent = {id(e): list(e.outbox) for e in editors}
    for editor in editors:
        server.store(editor)
    for editor in editors:
        for other in editors:
            if other is not editor:
                editor.receive(sent[id(other)])


def passages(result: list[history.QuestionAuthors], key: str) -> list[tuple[str, str]]:
    by_key = {q.key: q for q in result}
    return [(p.user_name, p.text) for p in by_key[key].passages]


def merged(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, text in pairs:
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1] + text)
        else:
            out.append((name, text))
    return out


# Attribution ---------------------------------------------------------------------------------
def test_authorship_under_concurrent_editing_by_three_authors(scene: Scene) -> None:
    w, server = scene.world, scene.server
    rita = scene.editor(w.referent)
    rita.add_paragraph("")
    rita.type(0, 0, "Notre stratégie numérique.")
    server.store(rita)
    paul, adam = scene.editor(w.producteur), scene.editor(w.admin)
    # Three people edit the same question at once, without seeing each other's words.
    rita.type(0, len("Notre stratégie numérique."), " Elle vise l'inclusion.")
    paul.type(0, 0, "Depuis 2020, ")
    paul.delete(0, len("Depuis 2020, N"), len("Depuis 2020, Notre"))
    paul.insert(0, len("Depuis 2020, N"), "otre")  # retyped: now Paul's
    adam.add_paragraph("")
    adam.type(1, 0, "Un budget dédié la soutient.")
    exchange(paul, adam, rita, server=server)
    # Then, in sync again, two of them type at the very same place at once.
    end = len(plain(rita.paragraph(0)))
    rita.insert(0, end, " Rita!")
    adam.insert(0, end, " Adam?")
    exchange(adam, rita, paul, server=server)
    assert str(rita.fragment) == str(adam.fragment) == str(paul.fragment)
    with scene.session() as session:
        result = history.authorship(session, scene.doc_name, scene.questions)
        current = history.plain_answers(documents.load(session, scene.doc_name), scene.questions)
    got = passages(result, STRATEGY)
    assert "".join(text for _, text in got) == current[STRATEGY]
    rita_first = current[STRATEGY].split("\n")[0].endswith(" Rita! Adam?")  # by client ids
    both = [("Rita Référente", " Rita!"), ("Adam Admin", " Adam?")]
    assert got == merged(
        ("Paul Producteur", "Depuis 2020, "),
        ("Rita Référente", "N"),
        ("Paul Producteur", "otre"),
        ("Rita Référente", " stratégie numérique. Elle vise l'inclusion."),
        *(both if rita_first else both[::-1]),
        ("Adam Admin", "\nUn budget dédié la soutient."),
    )


# Past states, diffs, plain text ---------------------------------------------------------------
def test_doc_at_every_point_and_diff_between_two(scene: Scene) -> None:
    w, server = scene.world, scene.server
    rita = scene.editor(w.referent)
    rita.add_paragraph("")
    rita.type(0, 0, "Le conseil a voté un plan.")
    first = server.store(rita)[-1]
    rita.insert(0, len("Le conseil a voté un"), " grand")
    rita.delete(0, len("Le conseil "), len("Le conseil a voté "))
    rita.insert(0, len("Le conseil "), "adopte ")
    rita.fragment.children.insert(
        0,
        XmlElement("heading", {"level": 2}, [XmlText("Bilan")]),  # type: ignore[dict-item]
    )
    rita.answer("gouvernance.budget", 12500.5)
    rita.answer("gouvernance.elu", True)
    server.store(rita)
    with scene.session() as session:
        # A live checkpoint in the middle: doc_at starts from it when it can.
        middle = server.ids[len(server.ids) // 2]
        session.add(
            DocCheckpoint(
                doc_name=scene.doc_name,
                upto_update_id=middle,
                data=history.doc_at(session, scene.doc_name, middle).get_update(),
            )
        )
    replica = new_doc()
    with scene.session() as session:
        rows = dict(session.exec(select(DocUpdate.id, DocUpdate.data)).all())
        for row_id in server.ids:
            replica.apply_update(rows[row_id])
            past = history.doc_at(session, scene.doc_name, row_id)
            assert history.plain_answers(past, scene.questions) == history.plain_answers(
                replica, scene.questions
            )
        at_first = history.plain_answers(
            history.doc_at(session, scene.doc_name, first), scene.questions
        )
        now = history.plain_answers(history.doc_at(session, scene.doc_name), scene.questions)
        empty = history.plain_answers(history.doc_at(session, scene.doc_name, 0), scene.questions)
    assert empty == {q.cle: "" for q in scene.questions}
    assert at_first == {
        STRATEGY: "Le conseil a voté un plan.",
        "gouvernance.budget": "",
        "gouvernance.elu": "",
    }
    assert now == {
        STRATEGY: "Bilan\nLe conseil adopte un grand plan.",
        "gouvernance.budget": "12\u202f500,5 €",
        "gouvernance.elu": "oui",
    }
    changes_ = {d.key: d for d in history.diff(scene.questions, at_first, now)}
    assert changes_[STRATEGY].changed and changes_[STRATEGY].label == "Décrivez votre stratégie."
    assert changes_[STRATEGY].chunks == [
        ("ajout", "Bilan\n"),
        ("egal", "Le conseil"),
        ("retrait", " a voté"),
        ("ajout", " adopte"),
        ("egal", " un"),
        ("ajout", " grand"),
        ("egal", " plan."),
    ]
    assert changes_["gouvernance.elu"].chunks == [("ajout", "oui")]
    unchanged = history.diff(scene.questions, now, now)
    assert not any(d.changed for d in unchanged)
    assert unchanged[0].chunks == [("egal", now[STRATEGY])]


def test_plain_answers_read_as_a_french_reader_would(scene: Scene) -> None:
    section = scene.world.sections[1]
    doc = new_doc()
    answers = doc.get(ANSWERS_MAP, type=Map)
    answers["services.canaux"] = ["site", "appli"]
    answers["services.ouverture"] = "2031-02-03"
    answers["services.nom"] = "Portail citoyen"
    answers["services.actions"] = [{"libelle": "Wifi public"}, {"libelle": "Tiers-lieu"}]
    with scene.session() as session:
        questions = questions_of(session, section.doc_name)
    assert history.plain_answers(doc, questions) == {
        "services.canaux": "Site web, Application mobile",
        "services.ouverture": "03/02/2031",
        "services.portail": "",
        "services.nom": "Portail citoyen",
        "services.preuve": "",
        "services.actions": "Wifi public, Tiers-lieu",
    }
    assert changes("Le chat dort.", "Le gros chat dort.") == [(3, 3, 3, 8)]


def test_analyse_counts_characters_and_questions(scene: Scene) -> None:
    w, server = scene.world, scene.server
    rita = scene.editor(w.referent)
    rita.add_paragraph("")
    rita.insert(0, 0, "Bonjour")
    rita.delete(0, 0, 3)
    rita.answer("gouvernance.budget", 100)
    with rita.doc.transaction():  # one update touching two questions
        rita.insert(0, 4, " là")
        rita.answer("gouvernance.elu", False)
    server.store(rita)
    with scene.session() as session:
        assert history.analyse(session, scene.doc_name) == 5
        assert history.analyse(session, scene.doc_name) == 0
        rows = session.exec(select(DocUpdate).order_by(col(DocUpdate.id))).all()
    assert [(r.added, r.removed, r.keys) for r in rows] == [
        (0, 0, [STRATEGY]),  # an empty paragraph: no text yet
        (7, 0, [STRATEGY]),
        (0, 3, [STRATEGY]),
        (5, 0, ["gouvernance.budget"]),  # "100 €"
        (6, 0, [STRATEGY, "gouvernance.elu"]),  # " là", and « non »
    ]
    assert history.plain_answers(scene.editor(w.admin).doc, scene.questions) == {
        STRATEGY: "jour là",
        "gouvernance.budget": "100 €",
        "gouvernance.elu": "non",
    }


# Restoring -----------------------------------------------------------------------------------
def test_restore_brings_back_formatted_text_and_answers(scene: Scene) -> None:
    w, server = scene.world, scene.server
    rita = scene.editor(w.referent)
    rita.fragment.children.append(XmlElement("heading", {"level": 2}, [XmlText("Bilan")]))  # type: ignore[dict-item]
    rita.add_paragraph("Un texte ")
    rita.insert(1, len("Un texte "), "important", {"bold": {}})
    rita.add_paragraph("Stable.")
    rita.answer("gouvernance.budget", 100)
    target_id = server.store(rita)[-1]
    rita.delete(1, len("Un texte "), len("Un texte important"))
    rita.insert(1, 0, "Plus ")
    rita.add_paragraph("Ajouté après.")
    rita.answer("gouvernance.budget", 250)
    rita.answer("gouvernance.elu", True)
    server.store(rita)
    paul = scene.editor(w.producteur)
    with scene.session() as session:
        current = documents.load(session, scene.doc_name)
        target = history.doc_at(session, scene.doc_name, target_id)
    update = history.restore_update(current, target, scene.questions)
    restored = new_doc()
    restored.apply_update(current.get_update())
    restored.apply_update(update)

    def html(doc: Doc[Any]) -> str:
        return richtext.to_html(doc.get(STRATEGY, type=XmlFragment))

    assert html(restored) == html(target)
    assert "<strong>important</strong>" in html(restored)
    assert restored.get(ANSWERS_MAP, type=Map).to_py() == {"gouvernance.budget": 100.0}
    assert history.plain_answers(restored, scene.questions) == history.plain_answers(
        target, scene.questions
    )
    # Meanwhile Paul edits the paragraph the restore leaves alone: both converge, his edit stays.
    paul.insert(2, 0, "Très ")
    concurrent = paul.outbox[:]
    paul.receive([update])
    restored.apply_update(concurrent[0])
    assert str(paul.fragment) == str(restored.get(STRATEGY, type=XmlFragment))
    assert paul.doc.get(ANSWERS_MAP, type=Map).to_py() == {"gouvernance.budget": 100.0}
    assert "Très Stable." in history.plain_answers(restored, scene.questions)[STRATEGY]
    # Restoring what is already there changes nothing.
    assert history.restore_update(target, target, scene.questions) == b"\x00\x00"


# Timeline and contributions ------------------------------------------------------------------
def test_timeline_groups_by_person_and_pause(scene: Scene) -> None:
    w, server = scene.world, scene.server
    rita = scene.editor(w.referent)
    rita.add_paragraph("")
    rita.type(0, 0, "Un deux")  # three updates, a minute apart
    server.store(rita, after=timedelta(minutes=1))
    server.wait(timedelta(minutes=15))
    rita.answer("gouvernance.budget", 9)
    server.store(rita)
    paul = scene.editor(w.producteur)
    paul.answer("gouvernance.elu", True)
    exchange(paul, rita, server=server)
    rita.insert(0, 0, "Zéro ")
    server.store(rita)
    with scene.session() as session:
        sessions = history.timeline(session, scene.doc_name)
        longer = history.timeline(session, scene.doc_name, gap=timedelta(minutes=20))
    ids = server.ids
    assert [
        (s.user_name, s.edits, s.added, s.removed, s.keys, s.first_id, s.last_id) for s in sessions
    ] == [
        ("Rita Référente", 1, 5, 0, (STRATEGY,), ids[5], ids[5]),
        ("Paul Producteur", 1, 3, 0, ("gouvernance.elu",), ids[4], ids[4]),
        ("Rita Référente", 1, 3, 0, ("gouvernance.budget",), ids[3], ids[3]),
        ("Rita Référente", 3, 7, 0, (STRATEGY,), ids[0], ids[2]),
    ]
    assert (sessions[-1].start, sessions[-1].end) == (
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=3),
    )
    assert [(s.user_name, s.edits) for s in longer] == [
        ("Rita Référente", 1),
        ("Paul Producteur", 1),
        ("Rita Référente", 4),
    ]


def rows_of(scene: Scene) -> list[DocUpdate]:
    with scene.session() as session:
        return list(
            session.exec(
                select(DocUpdate)
                .where(DocUpdate.doc_name == scene.doc_name)
                .order_by(col(DocUpdate.id))
            )
        )


def test_contributions_sum_each_person_over_sections(scene: Scene) -> None:
    w = scene.world
    other = Server(scene.database, w.sections[1].doc_name, clock=T0 + timedelta(hours=1))
    rita, paul = scene.editor(w.referent), scene.editor(w.producteur, synced=False)
    rita.add_paragraph("")
    rita.type(0, 0, "Trois mots ici")
    scene.server.store(rita)
    paul.add_paragraph("")
    paul.answer("gouvernance.budget", 12)  # "12 €": 4 characters
    scene.server.store(paul)
    elsewhere = Editor(w.referent)
    elsewhere.answer("services.nom", "Portail")
    other.store(elsewhere)
    with scene.session() as session:
        result = history.contributions(session, w.dossier.id)  # type: ignore[arg-type]
    assert [(c.user_name, c.section_ids, c.edits, c.added, c.removed) for c in result] == [
        ("Rita Référente", (w.sections[0].id, w.sections[1].id), 5, 14 + 7, 0),
        ("Paul Producteur", (w.sections[0].id,), 2, 4, 0),
    ]
    assert result[0].last_at == other.clock


# Squashing -----------------------------------------------------------------------------------
def snapshot(scene: Scene) -> dict[str, Any]:
    """Everything squashing must keep: what loads, past states, authorship, the timeline."""
    with scene.session() as session:
        doc = documents.load(session, scene.doc_name)
        return {
            "state": doc.get_state(),
            "answers": doc.get(ANSWERS_MAP, type=Map).to_py(),
            "text": str(doc.get(STRATEGY, type=XmlFragment)),
            "authors": history.authorship(session, scene.doc_name, scene.questions),
            "timeline": [
                (s.user_id, s.start, s.end, s.last_id, s.edits, s.added, s.removed, s.keys)
                for s in history.timeline(session, scene.doc_name)
            ],
        }


def write_sessions(scene: Scene) -> tuple[Editor, Editor]:
    """Rita and Paul take turns, typing in several places, a few seconds between words."""
    w, server = scene.world, scene.server
    rita = scene.editor(w.referent)
    paul = scene.editor(w.producteur, synced=False)
    rita.add_paragraph("")
    rita.type(0, 0, "La commune a ouvert un espace numérique en mairie.")
    rita.answer("gouvernance.budget", 4000)
    rita.add_paragraph("")
    rita.type(1, 0, "Des ateliers ont lieu chaque semaine.")
    exchange(rita, paul, server=server)
    paul.delete(0, len("La commune a ouvert "), len("La commune a ouvert un"))
    paul.insert(0, len("La commune a ouvert "), "deux")
    paul.insert(0, len("La commune a ouvert deux espace"), "s")
    paul.type(1, len("Des ateliers ont lieu chaque semaine."), " Ils sont gratuits.")
    paul.answer("gouvernance.elu", True)
    exchange(paul, rita, server=server)
    server.wait(timedelta(seconds=50))
    rita.insert(0, 0, "Depuis 2024, l")
    rita.delete(0, len("Depuis 2024, l"), len("Depuis 2024, lL"))
    rita.type(1, 0, "Animés par un conseiller, ")
    rita.answer("gouvernance.budget", 4500)
    exchange(rita, paul, server=server)
    return rita, paul


def test_squash_keeps_history_and_shrinks_the_log(scene: Scene) -> None:
    write_sessions(scene)
    with scene.session() as session:
        rows_before = rows_of(scene)
        history.analyse(session, scene.doc_name)
    before = snapshot(scene)
    now = scene.server.clock + timedelta(minutes=10)
    with scene.session() as session:
        report = history.squash(session, scene.doc_name, now=now)
    after = snapshot(scene)
    assert passages(after["authors"], STRATEGY) == passages(before["authors"], STRATEGY)
    assert after == before
    assert report.rows_before == len(rows_before) > report.rows_after
    assert report.bytes_before > report.bytes_after
    rows_after = rows_of(scene)
    assert len(rows_after) == report.rows_after
    assert sum(r.edits for r in rows_after) == len(rows_before)
    # Never two people, never two minutes in one row.
    kept = {r.id: r for r in rows_after}
    by_row: dict[int, list[DocUpdate]] = {}
    pending: list[DocUpdate] = []
    for row in rows_before:
        pending.append(row)
        if row.id in kept:
            by_row[row.id], pending = pending, []
    for row_id, originals in by_row.items():
        assert {o.user_id for o in originals} == {kept[row_id].user_id}
        assert len({o.created_at.replace(second=0) for o in originals}) == 1
        assert kept[row_id].edits == len(originals)
        assert kept[row_id].created_at == originals[0].created_at
        assert (kept[row_id].last_at or kept[row_id].created_at) == originals[-1].created_at
    # Past states named by surviving rows are unchanged.
    with scene.session() as session:
        for row in rows_after:
            past = history.doc_at(session, scene.doc_name, row.id)
            replica = new_doc()
            for original in rows_before:
                if original.id <= row.id:
                    replica.apply_update(original.data)
            assert history.plain_answers(past, scene.questions) == history.plain_answers(
                replica, scene.questions
            )
            assert past.get_state() == replica.get_state()
    # Squashing again finds nothing to merge.
    with scene.session() as session:
        again = history.squash(session, scene.doc_name, now=now)
    assert again.rows_before == again.rows_after == report.rows_after


def test_squash_leaves_recent_rows_and_version_points_alone(scene: Scene) -> None:
    write_sessions(scene)
    rows = rows_of(scene)
    recent = rows[-4].created_at  # the last rows are not old enough yet
    with scene.session() as session:
        version = Version(dossier_id=scene.world.dossier.id, label="v1", kind="manuelle")  # type: ignore[arg-type]
        session.add(version)
        session.flush()
        pinned = rows[3].id  # inside Rita's first run
        session.add(
            VersionSection(
                version_id=version.id, section_id=scene.section.id, upto_update_id=pinned
            )
        )  # type: ignore[arg-type]
        at_version = history.plain_answers(
            history.doc_at(session, scene.doc_name, pinned), scene.questions
        )
        history.squash(
            session,
            scene.doc_name,
            older_than=timedelta(minutes=5),
            now=recent + timedelta(minutes=5),
        )
    after = {r.id: r for r in rows_of(scene)}
    assert all(after[r.id].edits == 1 for r in rows if r.created_at >= recent)
    assert (
        pinned in after
        and (after[pinned].last_at or after[pinned].created_at) == rows[3].created_at
    )
    assert after[pinned].edits > 1  # what came before it in its minute was merged into it
    with scene.session() as session:
        again = history.plain_answers(
            history.doc_at(session, scene.doc_name, pinned), scene.questions
        )
    assert again == at_version


def test_squash_all_squashes_each_document(scene: Scene) -> None:
    write_sessions(scene)
    other = scene.editor(scene.world.admin, synced=False)
    other.answer("x", 1)
    other.answer("x", 2)
    Server(scene.database, "section-999", clock=T0).store(other)
    before = len(rows_of(scene))
    squasher = history.Squasher(scene.database)
    removed = squasher.round()  # the first round looks at the whole log
    assert removed == before - len(rows_of(scene)) + 1 > 1  # and section-999's two rows
    with scene.session() as session:
        assert history.squash_all(session, older_than=timedelta(0)) == 0
    assert squasher.round() == 0  # later rounds: only the last hour before the cutoff


def test_squash_thins_checkpoints_and_keeps_the_newest(scene: Scene) -> None:
    w, server = scene.world, scene.server
    rita = scene.editor(w.referent)
    rita.add_paragraph("")
    rita.type(0, 0, "Un texte assez long pour quelques lignes de journal.")
    server.store(rita, after=timedelta(minutes=2))
    with scene.session() as session:
        for upto in server.ids:  # collab's live checkpoints, here one per row
            session.add(
                DocCheckpoint(
                    doc_name=scene.doc_name,
                    upto_update_id=upto,
                    data=history.doc_at(session, scene.doc_name, upto).get_update(),
                )
            )
    with scene.session() as session:
        report = history.squash(session, scene.doc_name, now=server.clock + timedelta(hours=1))
        left = session.exec(
            select(DocCheckpoint.upto_update_id).where(DocCheckpoint.doc_name == scene.doc_name)
        ).all()
    assert report.checkpoints_before == len(server.ids) > report.checkpoints_after == 1
    assert left == [server.ids[-1]]
    assert len(server.ids) < CHECKPOINT_SPACING


def test_the_squasher_works_in_the_background_and_stops_with_the_app(scene: Scene) -> None:
    write_sessions(scene)
    before = len(rows_of(scene))

    async def serve() -> None:
        async with history.Squasher(scene.database, every=0.01).running():
            deadline = anyio.current_time() + 20
            while len(rows_of(scene)) == before:
                assert anyio.current_time() < deadline, "nothing squashed"
                await anyio.sleep(0.02)

    anyio.run(serve)
    assert len(rows_of(scene)) < before
