"""The log side of history: a section's update log replayed, analysed and squashed.

Everything here is computed from the attributed update log (`DocUpdate`), never from anything
the clients claim. `app/services/history.py` builds the timeline, diffs, authorship and restores
on top of it and re-exports the names other modules use.

- **Plain text.** A question's answer is compared as the text a reader sees: rich text is its
  text blocks (paragraphs, headings, list items) joined by "\\n"; other answers are their French
  rendering (« oui », « 12,5 », « 03/02/2031 », choice labels).
- **Attribution is by visible text**, not by CRDT item: replaying row by row, the characters a
  row made appear are credited to its author. A paragraph split by Enter or turned into a
  heading, or a restore, re-creates CRDT items without changing the text, so by items the whole
  paragraph would change hands; by text, only what really changed does. The price: where a
  change is ambiguous (a letter typed next to the same letter, a replaced word that happens to
  start or end like the old one) the neighbouring identical characters may be credited to either.
- **Analysis** fills each row's `added`/`removed` (characters) and `keys` (questions touched)
  once, so timelines and contributions are SQL sums; rows are analysed before being squashed.
- **Squashing** bounds the log: consecutive rows of one person within one minute become one row
  (see `squash`). A row a named version points to always ends a run, so versions stay exact.
- **Checkpoints** (full states) are what make `doc_at` fast: analysis and squashing write one
  whenever they replay `CHECKPOINT_SPACING` rows past the previous one, and squashing drops
  those closer together than that (collab's live checkpoints every 500 rows included), always
  keeping the newest, which is the one `documents.load` starts from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pycrdt import Doc, Map, XmlFragment
from sqlalchemy import bindparam, func, update
from sqlalchemy import select as sql_select  # sqlmodel's select takes at most 4 columns
from sqlmodel import Session, col, select

from app.models import DocCheckpoint, DocUpdate, Question, Section
from app.services.answers import ANSWERS_MAP
from app.services.history_text import block_lines, changes, is_rich, join_lines, render
from collab.manager import new_doc

log = logging.getLogger("arobase.history")

CHECKPOINT_SPACING = 3000  # rows doc_at replays at most after a checkpoint (~20 µs each)


# Replaying -----------------------------------------------------------------------------------
class Replay:
    """A document replayed row by row, each question's plain text kept up to date.

    A rich-text answer is cached per top-level block; the events of an applied row say which
    blocks changed, so a row costs what it touched, not the size of the document.
    """

    def __init__(self, doc: Doc[Any], questions: Sequence[Question]) -> None:
        self.doc = doc
        self.questions = {q.cle: q for q in questions}
        self.rich = {q.cle: doc.get(q.cle, type=XmlFragment) for q in questions if is_rich(q)}
        self.answers = doc.get(ANSWERS_MAP, type=Map)
        self._events: dict[str, list[Any]] = {}  # pycrdt's XmlEvents (untyped)
        self._keys: set[str] = set()
        with doc.transaction():
            self.blocks = {
                key: [block_lines(child) for child in fragment.children]
                for key, fragment in self.rich.items()
            }
        self.texts = {key: join_lines(blocks) for key, blocks in self.blocks.items()}
        values = self.answers.to_py() or {}
        for key, question in self.questions.items():
            if key not in self.rich:
                self.texts[key] = render(question, values.get(key))
        for key, fragment in self.rich.items():
            fragment.observe_deep(self._collector(key))
        self.answers.observe(self._on_answers)

    def _collector(self, key: str) -> Callable[[list[Any]], None]:
        # One argument only: pycrdt passes the transaction too to a callback that takes two.
        def collect(events: list[Any]) -> None:
            self._events.setdefault(key, []).extend(events)

        return collect

    def _on_answers(self, event: Any) -> None:  # a MapEvent
        self._keys.update(event.keys)

    def apply(self, update: bytes) -> dict[str, tuple[str, str]]:
        """Apply one row; the questions it touched, each with its text (before, after)."""
        self.doc.apply_update(update)
        touched: dict[str, tuple[str, str]] = {}
        if self._events:
            with self.doc.transaction():
                for key, events in self._events.items():
                    self._refresh(key, events)
                    touched[key] = (self.texts[key], join_lines(self.blocks[key]))
            self._events.clear()
        if self._keys:
            for key in self._keys & self.questions.keys() - self.rich.keys():
                value = self.answers.get(key)
                touched[key] = (self.texts[key], render(self.questions[key], value))
            self._keys.clear()
        for key, (_, after) in touched.items():
            self.texts[key] = after
        return touched

    def _refresh(self, key: str, events: list[Any]) -> None:
        blocks, fragment = self.blocks[key], self.rich[key]
        dirty: set[int] = set()
        try:
            # The fragment's own event first: its delta is relative to the blocks before the
            # row, while deeper events' paths index the blocks after it.
            for event in events:
                if event.path:
                    dirty.add(event.path[0])
                    continue
                index = 0
                for op in event.delta:
                    if "retain" in op:
                        index += op["retain"]
                    elif "delete" in op:
                        del blocks[index : index + op["delete"]]
                    elif "insert" in op:
                        inserted = [block_lines(node) for node in op["insert"]]
                        blocks[index:index] = inserted
                        index += len(inserted)
            children = fragment.children
            for index in dirty:
                blocks[index] = block_lines(children[index])
            if len(blocks) == len(children):
                return
        except (IndexError, KeyError, TypeError):
            log.warning("history: rebuilding %s after an unexpected event", key, exc_info=True)
        blocks[:] = [block_lines(child) for child in fragment.children]


# Reading the log -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LogRow:
    """A row of the log without its update."""

    id: int
    user_id: int | None
    created_at: datetime
    last_at: datetime | None
    edits: int
    added: int | None
    removed: int | None
    keys: list[str] | None


_ROWS = DocUpdate.__table__  # type: ignore[attr-defined]
_LOG_ROWS = sql_select(
    _ROWS.c.id,
    _ROWS.c.user_id,
    _ROWS.c.created_at,
    _ROWS.c.last_at,
    _ROWS.c.edits,
    _ROWS.c.added,
    _ROWS.c.removed,
    _ROWS.c["keys"],
).order_by(_ROWS.c.id)
_FILL = update(_ROWS).values(
    added=bindparam("added"), removed=bindparam("removed"), keys=bindparam("keys")
)


def log_rows(session: Session, doc_name: str) -> list[LogRow]:
    query = _LOG_ROWS.where(_ROWS.c.doc_name == doc_name)
    return [LogRow(*row) for row in session.connection().execute(query)]


def questions_of(session: Session, doc_name: str) -> list[Question]:
    """The questions of the section a document belongs to, in questionnaire order."""
    prefix, _, number = doc_name.rpartition("-")
    section = (
        session.get(Section, int(number)) if prefix == "section" and number.isdigit() else None
    )
    if section is None:
        return []
    return list(
        session.exec(
            select(Question)
            .where(Question.theme_id == section.theme_id)
            .order_by(col(Question.ordre))
        )
    )


def replayed(session: Session, doc_name: str, upto_id: int | None) -> tuple[Doc[Any], int]:
    """The document right after row `upto_id` (None: now), and how many rows were replayed
    after the checkpoint it started from."""
    doc = new_doc()
    if upto_id is not None and upto_id <= 0:
        return doc, 0
    query = select(DocCheckpoint.upto_update_id, DocCheckpoint.data).where(
        DocCheckpoint.doc_name == doc_name
    )
    if upto_id is not None:
        query = query.where(DocCheckpoint.upto_update_id <= upto_id)
    checkpoint = session.exec(
        query.order_by(col(DocCheckpoint.upto_update_id).desc()).limit(1)
    ).first()
    start = 0
    if checkpoint is not None:
        start = checkpoint[0]
        doc.apply_update(checkpoint[1])
    rows = select(DocUpdate.data).where(DocUpdate.doc_name == doc_name, col(DocUpdate.id) > start)
    if upto_id is not None:
        rows = rows.where(col(DocUpdate.id) <= upto_id)
    count = 0
    for data in session.exec(rows.order_by(col(DocUpdate.id))):
        doc.apply_update(data)
        count += 1
    return doc, count


def doc_at(session: Session, doc_name: str, upto_id: int | None = None) -> Doc[Any]:
    """The document as it was right after row `upto_id` (None: now; 0: before any edit)."""
    return replayed(session, doc_name, upto_id)[0]


class Checkpoints:
    """The checkpoints a replay should write: one once `CHECKPOINT_SPACING` rows have gone by
    since the previous one (an existing one, or one planned here)."""

    def __init__(self, session: Session, doc_name: str, after_id: int, since: int) -> None:
        self.doc_name, self.since = doc_name, since
        self.later = list(
            session.exec(
                select(DocCheckpoint.upto_update_id)
                .where(DocCheckpoint.doc_name == doc_name, DocCheckpoint.upto_update_id > after_id)
                .order_by(col(DocCheckpoint.upto_update_id))
            )
        )
        self._next = 0
        self.planned: list[DocCheckpoint] = []

    def passed(self, row_id: int, doc: Doc[Any]) -> None:
        while self._next < len(self.later) and self.later[self._next] < row_id:
            self._next += 1
            self.since = 0
        self.since += 1
        if self._next < len(self.later) and self.later[self._next] == row_id:
            self.since = 0
        elif self.since >= CHECKPOINT_SPACING:
            self.planned.append(
                DocCheckpoint(doc_name=self.doc_name, upto_update_id=row_id, data=doc.get_update())
            )
            self.since = 0


@dataclass
class Analysis:
    """What analysing rows found, to be written: each row's statistics, new checkpoints."""

    stats: dict[int, dict[str, Any]]
    checkpoints: list[DocCheckpoint]

    def write(self, session: Session) -> None:
        if self.stats:
            # Only rows still unanalysed: a squash may have merged and summed them meanwhile.
            session.exec(
                _FILL.where(_ROWS.c.id == bindparam("row"), _ROWS.c.added.is_(None)),
                params=list(self.stats.values()),
            )
        session.add_all(self.checkpoints)
        session.flush()


def analyse(session: Session, doc_name: str) -> int:
    """Fill `added`, `removed` and `keys` of the rows not analysed yet; how many there were."""
    analysis = analysis_of(session, doc_name)
    analysis.write(session)
    return len(analysis.stats)


def analysis_of(session: Session, doc_name: str) -> Analysis:
    """Replay the document from its first row not analysed, comparing each row's questions'
    texts before and after it. Reads only: the writing is left to the caller (SQLite holds its
    one writer lock from the first write until the commit)."""
    first = session.exec(
        select(func.min(DocUpdate.id)).where(
            DocUpdate.doc_name == doc_name, col(DocUpdate.added).is_(None)
        )
    ).one()
    if first is None:
        return Analysis({}, [])
    questions = questions_of(session, doc_name)
    order = {q.cle: index for index, q in enumerate(questions)}
    doc, since = replayed(session, doc_name, first - 1)
    replay = Replay(doc, questions)
    checkpoints = Checkpoints(session, doc_name, first - 1, since)
    stats = {}
    for row_id, data, added in session.connection().execute(
        sql_select(_ROWS.c.id, _ROWS.c.data, _ROWS.c.added)
        .where(_ROWS.c.doc_name == doc_name, _ROWS.c.id >= first)
        .order_by(_ROWS.c.id)
    ):
        touched = replay.apply(data)
        if added is None:
            spans = [span for old, new in touched.values() for span in changes(old, new)]
            stats[row_id] = {
                "row": row_id,
                "added": sum(j2 - j1 for _, _, j1, j2 in spans),
                "removed": sum(i2 - i1 for i1, i2, _, _ in spans),
                "keys": sorted(touched, key=lambda key: order.get(key, len(order))),
            }
        checkpoints.passed(row_id, doc)
    return Analysis(stats, checkpoints.planned)
