"""A section's history: its timeline, past states, diffs, authorship, restores, contributions.

Everything is computed from the attributed update log; `app/services/history_log.py` replays,
analyses and squashes it (and explains how attribution works). A restore is a new forward
change, computed here and applied through the live room; the log is never rewritten, except by
squashing, which merges one person's consecutive edits of one minute and keeps what they did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from itertools import groupby
from typing import Any

from pycrdt import Doc, Map, XmlElement, XmlFragment, XmlText
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import DocUpdate, Question, Section, User
from app.services.answers import ANSWERS_MAP
from app.services.history_log import Replay, analyse, doc_at, log_rows, questions_of
from app.services.history_squash import Squasher, SquashReport, squash, squash_all
from app.services.history_text import align, changes, is_rich, render, rich_text
from collab.manager import new_doc

__all__ = [
    "Contribution",
    "EditingSession",
    "Passage",
    "QuestionAuthors",
    "QuestionDiff",
    "SquashReport",
    "Squasher",
    "analyse",
    "authorship",
    "contributions",
    "diff",
    "doc_at",
    "plain_answers",
    "restore_update",
    "squash",
    "squash_all",
    "timeline",
]


# Timeline ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EditingSession:
    """One entry of a timeline: one person's consecutive edits, without a long pause."""

    user_id: int | None
    user_name: str  # "" → show « inconnu »
    start: datetime
    end: datetime
    first_id: int  # first doc_update.id of the session
    last_id: int  # last one: the state "after this session" is doc_at(last_id)
    edits: int  # original edits (a squashed row counts all of its edits)
    added: int  # characters
    removed: int
    keys: tuple[str, ...]  # questions touched, in questionnaire order


@dataclass
class _Open:
    user_id: int | None
    start: datetime
    end: datetime
    first_id: int
    last_id: int
    edits: int = 0
    added: int = 0
    removed: int = 0
    keys: set[str] = field(default_factory=set)


def timeline(
    session: Session, doc_name: str, *, gap: timedelta = timedelta(minutes=10)
) -> list[EditingSession]:
    """The editing sessions of a document, newest first: consecutive rows of one person with
    less than `gap` between them form one session. Rows not analysed yet are analysed first."""
    analyse(session, doc_name)
    sessions: list[_Open] = []
    for row in log_rows(session, doc_name):
        current = sessions[-1] if sessions else None
        if current is None or current.user_id != row.user_id or row.created_at - current.end >= gap:
            current = _Open(row.user_id, row.created_at, row.created_at, row.id, row.id)
            sessions.append(current)
        current.end = max(current.end, row.last_at or row.created_at)
        current.last_id = row.id
        current.edits += row.edits
        current.added += row.added or 0
        current.removed += row.removed or 0
        current.keys.update(row.keys or ())
    names = _names(session, {s.user_id for s in sessions})
    order = {q.cle: index for index, q in enumerate(questions_of(session, doc_name))}
    return [
        EditingSession(
            s.user_id,
            names.get(s.user_id, ""),
            s.start,
            s.end,
            s.first_id,
            s.last_id,
            s.edits,
            s.added,
            s.removed,
            tuple(sorted(s.keys, key=lambda key: (order.get(key, len(order)), key))),
        )
        for s in reversed(sessions)
    ]


def _names(session: Session, user_ids: set[int | None]) -> dict[int | None, str]:
    ids = [user_id for user_id in user_ids if user_id is not None]
    if not ids:
        return {}
    return dict(session.exec(select(User.id, User.name).where(col(User.id).in_(ids))).all())


# Past states and diffs -----------------------------------------------------------------------
def plain_answers(doc: Doc[Any], questions: list[Question]) -> dict[str, str]:
    """Each question's answer as plain text: rich text is its paragraphs (headings and list
    items included) joined by "\\n"; other answers as a French reader reads them; '' if none."""
    values = doc.get(ANSWERS_MAP, type=Map).to_py() or {}
    return {
        q.cle: rich_text(doc.get(q.cle, type=XmlFragment))
        if is_rich(q)
        else render(q, values.get(q.cle))
        for q in questions
    }


@dataclass(frozen=True)
class QuestionDiff:
    key: str
    label: str
    changed: bool
    chunks: list[tuple[str, str]]  # ("egal" | "ajout" | "retrait", text), word by word, in order


def diff(questions: list[Question], old: dict[str, str], new: dict[str, str]) -> list[QuestionDiff]:
    """What changed in each question's text between two states (see `plain_answers`), word by
    word; between two unchanged stretches, what was removed comes before what was added."""
    out = []
    for q in questions:
        before, after = old.get(q.cle, ""), new.get(q.cle, "")
        chunks: list[tuple[str, str]] = []
        removed = added = ""
        for tag, i1, i2, j1, j2 in align(before, after) if before != after else ():
            if tag != "equal":
                removed, added = removed + before[i1:i2], added + after[j1:j2]
                continue
            _chunk(chunks, "retrait", removed)
            _chunk(chunks, "ajout", added)
            removed = added = ""
            _chunk(chunks, "egal", after[j1:j2])
        _chunk(chunks, "retrait", removed)
        _chunk(chunks, "ajout", added)
        if before == after and after:
            chunks = [("egal", after)]
        out.append(QuestionDiff(q.cle, q.libelle, before != after, chunks))
    return out


def _chunk(chunks: list[tuple[str, str]], kind: str, text: str) -> None:
    if not text:
        return
    if chunks and chunks[-1][0] == kind:
        chunks[-1] = (kind, chunks[-1][1] + text)
    else:
        chunks.append((kind, text))


# Authorship ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Passage:
    user_id: int | None
    user_name: str
    text: str


@dataclass(frozen=True)
class QuestionAuthors:
    key: str
    label: str
    passages: list[Passage]  # one author's consecutive characters; together: the plain answer


def authorship(
    session: Session, doc_name: str, questions: list[Question], upto_id: int | None = None
) -> list[QuestionAuthors]:
    """Who wrote each passage of each answer, as it stood after row `upto_id` (None: now).

    The whole log up to that row is replayed from its start (a checkpoint knows the text, not who
    wrote it), and each row's author is credited with the characters it made appear."""
    replay = Replay(new_doc(), questions)
    authors: dict[str, list[int | None]] = {q.cle: [] for q in questions}
    rows = select(DocUpdate.user_id, DocUpdate.data).where(DocUpdate.doc_name == doc_name)
    if upto_id is not None:
        rows = rows.where(col(DocUpdate.id) <= upto_id)
    for user_id, data in session.exec(rows.order_by(col(DocUpdate.id))):
        for key, (old, new) in replay.apply(data).items():
            who = authors[key]
            for i1, i2, j1, j2 in reversed(changes(old, new)):
                who[i1:i2] = [user_id] * (j2 - j1)
    names = _names(session, {user for who in authors.values() for user in set(who)})
    out = []
    for q in questions:
        text, at, passages = replay.texts[q.cle], 0, []
        for user_id, run in groupby(authors[q.cle]):
            length = sum(1 for _ in run)
            passages.append(Passage(user_id, names.get(user_id, ""), text[at : at + length]))
            at += length
        out.append(QuestionAuthors(q.cle, q.libelle, passages))
    return out


# Restoring -----------------------------------------------------------------------------------
def restore_update(current: Doc[Any], target: Doc[Any], questions: list[Question]) -> bytes:
    """A Yjs update that, applied to a document equal to `current`, makes every question's
    answer equal to `target`'s: a forward change, made on a copy.

    Rich text keeps the blocks that are already as in the target and replaces the others by
    copies of the target's (elements, attributes, formatted text), so a concurrent edit of an
    untouched paragraph survives; short answers are set or deleted. The update is the copy's own
    transaction (`get_update(state)` would also carry the document's whole delete set)."""
    doc = new_doc()
    doc.apply_update(current.get_update())
    wanted = target.get(ANSWERS_MAP, type=Map).to_py() or {}
    answers = doc.get(ANSWERS_MAP, type=Map)
    fragments = {q.cle: doc.get(q.cle, type=XmlFragment) for q in questions if is_rich(q)}
    captured: list[bytes] = []
    subscription = doc.observe(lambda event: captured.append(event.update))
    with doc.transaction():
        for key, fragment in fragments.items():
            _restore_fragment(fragment, target.get(key, type=XmlFragment))
        have = answers.to_py() or {}
        for q in questions:
            if is_rich(q):
                continue
            if q.cle in wanted and (q.cle not in have or have[q.cle] != wanted[q.cle]):
                answers[q.cle] = wanted[q.cle]
            elif q.cle not in wanted and q.cle in have:
                del answers[q.cle]
    doc.unobserve(subscription)
    return captured[-1] if captured else b"\x00\x00"  # one transaction: one update


def _restore_fragment(fragment: XmlFragment, target: XmlFragment) -> None:
    """Make `fragment`'s blocks those of `target`, keeping the blocks that are already right."""
    old, new = list(fragment.children), list(target.children)
    matcher = SequenceMatcher(None, [_shape(n) for n in old], [_shape(n) for n in new], False)
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):  # from the end: indices hold
        if tag == "equal":
            continue
        del fragment.children[i1:i2]
        for index, node in enumerate(new[j1:j2], start=i1):
            _copy(fragment, index, node)


def _shape(node: Any) -> str:
    """A comparable image of a node: tags, attributes, text and its formatting."""
    return json.dumps(_image(node), sort_keys=True, default=str)


def _image(node: Any) -> Any:
    if isinstance(node, XmlText):
        return ["#text", [[chunk, attrs] for chunk, attrs in node.diff()]]
    if isinstance(node, XmlElement):
        return [node.tag, _attributes(node), [_image(child) for child in node.children]]
    return None


def _attributes(node: XmlElement) -> dict[str, Any]:
    # pycrdt types the view's __iter__ as returning an Iterable: go through it explicitly.
    return dict(node.attributes.__iter__())


def _copy(parent: XmlFragment | XmlElement, index: int, node: Any) -> None:
    if isinstance(node, XmlText):
        text = parent.children.insert(index, XmlText())
        for chunk, attrs in node.diff():  # appended: pycrdt's offsets are UTF-8 bytes
            if isinstance(chunk, str):
                text.insert(len(text), chunk, attrs)
            else:
                text.insert_embed(len(text), chunk, attrs)
    elif isinstance(node, XmlElement):
        element = parent.children.insert(index, XmlElement(node.tag, _attributes(node)))
        for position, child in enumerate(node.children):
            _copy(element, position, child)


# Contributions -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Contribution:
    user_id: int | None
    user_name: str
    section_ids: tuple[int, ...]
    edits: int
    added: int
    removed: int
    last_at: datetime


def contributions(session: Session, dossier_id: int) -> list[Contribution]:
    """What each person wrote in the dossier's sections, most active first."""
    sections = list(session.exec(select(Section.id).where(Section.dossier_id == dossier_id)))
    docs = {f"section-{section_id}": section_id for section_id in sections}
    for doc_name in docs:
        analyse(session, doc_name)
    rows = session.exec(
        select(  # type: ignore[call-overload]
            DocUpdate.user_id,
            DocUpdate.doc_name,
            func.sum(DocUpdate.edits),
            func.sum(DocUpdate.added),
            func.sum(DocUpdate.removed),
            func.max(DocUpdate.created_at),
            func.max(DocUpdate.last_at),
        )
        .where(col(DocUpdate.doc_name).in_(list(docs)))
        .group_by(col(DocUpdate.user_id), col(DocUpdate.doc_name))
    )
    people: dict[int | None, dict[str, Any]] = {}
    for user_id, doc_name, edits, added, removed, created_at, last_at in rows:
        person = people.setdefault(
            user_id, {"sections": set(), "edits": 0, "added": 0, "removed": 0, "last": created_at}
        )
        person["sections"].add(docs[doc_name])
        person["edits"] += int(edits or 0)
        person["added"] += int(added or 0)
        person["removed"] += int(removed or 0)
        person["last"] = max(person["last"], created_at, last_at or created_at)
    names = _names(session, set(people))
    out = [
        Contribution(
            user_id,
            names.get(user_id, ""),
            tuple(sorted(p["sections"])),
            p["edits"],
            p["added"],
            p["removed"],
            p["last"],
        )
        for user_id, p in people.items()
    ]
    out.sort(key=lambda c: (-c.edits, -(c.added + c.removed), c.user_name))
    return out
