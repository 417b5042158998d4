"""Bounded history: squashing a section's log (see `squash`), and the periodic `Squasher`."""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import anyio
from pycrdt import Doc, get_update
from sqlalchemy import bindparam, delete, func, text, update
from sqlalchemy import select as sql_select  # sqlmodel's select takes at most 4 columns
from sqlmodel import Session, col, select

from app.db import Database
from app.models import DocCheckpoint, DocUpdate, VersionSection
from app.models._base import utcnow
from app.services.history_log import (
    Checkpoints,
    LogRow,
    analysis_of,
    log_rows,
    questions_of,
    replayed,
)
from collab.protocol import Reader, write_var_uint
from collab.room import crdt_guard

log = logging.getLogger("arobase.history")

CHECKPOINT_SPACING = 3000  # rows doc_at replays at most after a checkpoint (~20 µs each)


_ROWS = DocUpdate.__table__  # type: ignore[attr-defined]
_MERGE = (
    update(_ROWS)
    .where(_ROWS.c.id == bindparam("row"))
    .values(
        data=bindparam("data"),
        edits=bindparam("edits"),
        created_at=bindparam("created_at"),
        last_at=bindparam("last_at"),
        added=bindparam("added"),
        removed=bindparam("removed"),
        keys=bindparam("keys"),
    )
)


# Squashing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SquashReport:
    rows_before: int
    rows_after: int
    bytes_before: int
    bytes_after: int
    checkpoints_before: int = 0
    checkpoints_after: int = 0
    checkpoint_bytes_before: int = 0
    checkpoint_bytes_after: int = 0


def squash(
    session: Session,
    doc_name: str,
    *,
    window: timedelta = timedelta(minutes=1),
    older_than: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
) -> SquashReport:
    """Bound the log: consecutive rows of one person whose edits fall in the same `window`
    (minute) and are older than `older_than` become one row, the last one, holding the whole run
    (`edits` counts them, `created_at`..`last_at` spans them, statistics are summed).

    The merged update is re-encoded from a replay (never `merge_updates`): the structs the run
    brought, from `get_update(state before the run)`, followed by the run's own deletions only,
    because `get_update` ends with the whole document's delete set, which would make every
    merged row as large as all the deletions ever made. Checkpoints stay valid: Yjs updates are
    idempotent, so one taken inside a run just replays the merged row again.
    """
    if session.get_bind().dialect.name == "postgresql":
        # Two processes never squash one document at once (released at commit).
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": doc_name})
    before = _storage(session, doc_name)
    # Everything is computed first and written at the end, in one short burst.
    analysis = analysis_of(session, doc_name)
    rows = [_with_stats(row, analysis.stats.get(row.id)) for row in log_rows(session, doc_name)]
    cutoff = (now or utcnow()) - older_than
    runs = _runs(rows, cutoff, window, _version_ends(session, doc_name))
    merged, dropped, checkpoints = _merge(session, doc_name, runs) if runs else ([], [], [])
    analysis.checkpoints += checkpoints
    analysis.write(session)
    if merged:
        session.exec(_MERGE, params=merged)
    for start in range(0, len(dropped), 500):
        session.exec(delete(_ROWS).where(_ROWS.c.id.in_(dropped[start : start + 500])))
    _thin_checkpoints(session, doc_name)
    session.flush()
    after = _storage(session, doc_name)
    return SquashReport(
        before[0], after[0], before[1], after[1], before[2], after[2], before[3], after[3]
    )


def _with_stats(row: LogRow, stats: dict[str, Any] | None) -> LogRow:
    if stats is None:
        return row
    return replace(row, added=stats["added"], removed=stats["removed"], keys=stats["keys"])


def _storage(session: Session, doc_name: str) -> tuple[int, int, int, int]:
    rows, size = session.exec(
        select(func.count(), func.coalesce(func.sum(func.length(DocUpdate.data)), 0)).where(
            DocUpdate.doc_name == doc_name
        )
    ).one()
    checkpoints, checkpoint_size = session.exec(
        select(func.count(), func.coalesce(func.sum(func.length(DocCheckpoint.data)), 0)).where(
            DocCheckpoint.doc_name == doc_name
        )
    ).one()
    return int(rows), int(size), int(checkpoints), int(checkpoint_size)


def _version_ends(session: Session, doc_name: str) -> set[int]:
    prefix, _, number = doc_name.rpartition("-")
    if prefix != "section" or not number.isdigit():
        return set()
    return set(
        session.exec(
            select(VersionSection.upto_update_id).where(VersionSection.section_id == int(number))
        )
    )


def _runs(
    rows: list[LogRow], cutoff: datetime, window: timedelta, ends: set[int]
) -> list[list[LogRow]]:
    """Runs of at least two consecutive rows to merge. Rows of nobody (None) are never merged:
    they may be several people; a row a version points to always ends its run."""
    seconds = window.total_seconds()
    runs: list[list[LogRow]] = []
    current: list[LogRow] = []
    for row in rows:
        old = row.created_at < cutoff and (row.last_at or row.created_at) < cutoff
        previous = current[-1] if current else None
        if (
            previous is not None
            and old
            and row.user_id == previous.user_id
            and previous.id not in ends
            and row.created_at.timestamp() // seconds
            == current[0].created_at.timestamp() // seconds
        ):
            current.append(row)
            continue
        if len(current) > 1:
            runs.append(current)
        current = [row] if old and row.user_id is not None else []
    if len(current) > 1:
        runs.append(current)
    return runs


def _merge(
    session: Session, doc_name: str, runs: list[list[LogRow]]
) -> tuple[list[dict[str, Any]], list[int], list[DocCheckpoint]]:
    """Replay the log through the runs: the merged rows, the rows merged away, checkpoints."""
    first = runs[0][0].id
    doc, since = replayed(session, doc_name, first - 1)
    checkpoints = Checkpoints(session, doc_name, first - 1, since)
    run_of = {row.id: run for run in runs for row in run}
    order = {q.cle: index for index, q in enumerate(questions_of(session, doc_name))}
    merged: list[dict[str, Any]] = []
    dropped: list[int] = []
    datas: list[bytes]
    state, datas = b"", []  # the run being read: the state before it, its updates
    for row_id, data in session.connection().execute(
        sql_select(_ROWS.c.id, _ROWS.c.data)
        .where(_ROWS.c.doc_name == doc_name, _ROWS.c.id >= first, _ROWS.c.id <= runs[-1][-1].id)
        .order_by(_ROWS.c.id)
    ):
        run = run_of.get(row_id)
        if run is not None and row_id == run[0].id:
            state, datas = doc.get_state(), []
        doc.apply_update(data)
        if run is not None:
            datas.append(data)
            if row_id != run[-1].id:
                continue
            combined = _combined(doc, state, datas)
            if combined is None:  # part of it waits for an edit stored later: leave it alone
                log.info("history: run ending at %s of %s not squashed", row_id, doc_name)
            else:
                merged.append(_merged_row(run, combined, order))
                dropped.extend(row.id for row in run[:-1])
        checkpoints.passed(row_id, doc)
    return merged, dropped, checkpoints.planned


def _merged_row(run: list[LogRow], data: bytes, order: dict[str, int]) -> dict[str, Any]:
    keys = {key for row in run for key in row.keys or ()}
    return {
        "row": run[-1].id,
        "data": data,
        "edits": sum(row.edits for row in run),
        "created_at": run[0].created_at,
        "last_at": max(row.last_at or row.created_at for row in run),
        "added": sum(row.added or 0 for row in run),
        "removed": sum(row.removed or 0 for row in run),
        "keys": sorted(keys, key=lambda key: (order.get(key, len(order)), key)),
    }


def _combined(doc: Doc[Any], state: bytes, datas: list[bytes]) -> bytes | None:
    """One update equal to the rows of a run just applied to `doc` from `state`, or None when
    some of their content is not integrated yet (it waits for an edit stored later)."""
    now = doc.get_state()
    deleted: dict[int, list[tuple[int, int]]] = {}
    for data in datas:
        reader = Reader(get_update(data, now))
        if reader.var_uint() != 0:
            return None
        for _ in range(reader.var_uint()):
            client = reader.var_uint()
            ranges = deleted.setdefault(client, [])
            ranges.extend((reader.var_uint(), reader.var_uint()) for _ in range(reader.var_uint()))
    everything_deleted = doc.get_update(now)  # no structs, then the whole delete set
    structs_and_deleted = doc.get_update(state)
    tail = everything_deleted[1:]
    if everything_deleted[:1] != b"\x00" or not structs_and_deleted.endswith(tail):
        return None
    return structs_and_deleted[: len(structs_and_deleted) - len(tail)] + _encode_deleted(deleted)


def _encode_deleted(deleted: dict[int, list[tuple[int, int]]]) -> bytes:
    out = [write_var_uint(len(deleted))]
    for client, ranges in sorted(deleted.items()):
        merged: list[list[int]] = []
        for clock, length in sorted(ranges):
            if merged and clock <= merged[-1][0] + merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], clock + length - merged[-1][0])
            else:
                merged.append([clock, length])
        out.append(write_var_uint(client) + write_var_uint(len(merged)))
        out.extend(write_var_uint(clock) + write_var_uint(length) for clock, length in merged)
    return b"".join(out)


def _thin_checkpoints(session: Session, doc_name: str) -> None:
    """Drop checkpoints fewer than `CHECKPOINT_SPACING` rows after the previous one kept; the
    newest always stays (loading starts from it)."""
    checkpoints = session.exec(
        select(DocCheckpoint.id, DocCheckpoint.upto_update_id)
        .where(DocCheckpoint.doc_name == doc_name)
        .order_by(col(DocCheckpoint.upto_update_id), col(DocCheckpoint.id))
    ).all()
    if len(checkpoints) < 2:
        return
    query = sql_select(_ROWS.c.id).where(_ROWS.c.doc_name == doc_name).order_by(_ROWS.c.id)
    ids: list[int] = list(session.connection().execute(query).scalars())
    kept, doomed = 0, []
    for checkpoint_id, upto in checkpoints[:-1]:
        if bisect_right(ids, upto) - bisect_right(ids, kept) >= CHECKPOINT_SPACING:
            kept = upto
        else:
            doomed.append(checkpoint_id)
    for start in range(0, len(doomed), 500):
        session.exec(
            delete(DocCheckpoint).where(col(DocCheckpoint.id).in_(doomed[start : start + 500]))
        )


def squash_all(
    session: Session,
    *,
    older_than: timedelta = timedelta(minutes=5),
    window: timedelta = timedelta(minutes=1),
    within: timedelta | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Squash every document with rows to merge (among rows of the last `within` before the
    cutoff, or all); how many rows it removed. Commits after each document, so each is one
    transaction and one failure (logged) leaves the others squashed."""
    cutoff = utcnow() - older_than
    removed = 0
    for doc_name in _candidates(session, cutoff, window, within):
        if stop():
            break
        try:
            with crdt_guard(f"squashing {doc_name}"):
                report = squash(session, doc_name, window=window, older_than=older_than)
            session.commit()
        except Exception:  # this loop's top-level handler: the next documents still get squashed
            session.rollback()
            log.exception("history: squashing %s failed", doc_name)
            continue
        removed += report.rows_before - report.rows_after
    return removed


def _candidates(
    session: Session, cutoff: datetime, window: timedelta, within: timedelta | None
) -> list[str]:
    """Documents with two consecutive rows of one person in one window before `cutoff`."""
    query = select(DocUpdate.doc_name, DocUpdate.user_id, DocUpdate.created_at).where(
        DocUpdate.created_at < cutoff
    )
    if within is not None:
        query = query.where(DocUpdate.created_at >= cutoff - within)
    seconds = window.total_seconds()
    found: list[str] = []
    previous: tuple[str, int | None, float] | None = None
    rows = query.order_by(col(DocUpdate.doc_name), col(DocUpdate.id))
    for doc_name, user_id, created_at in session.exec(rows.execution_options(yield_per=10_000)):
        current = (doc_name, user_id, created_at.timestamp() // seconds)
        if current == previous and user_id is not None and (not found or found[-1] != doc_name):
            found.append(doc_name)
        previous = current
    session.commit()  # end the read: each document is then squashed in its own transaction
    return found


# Periodic squashing --------------------------------------------------------------------------
class Squasher:
    """Squashes old rows in the background every `every` seconds, in a worker thread.

    The first round looks at the whole log (rows left by a stopped server); later ones at the
    last hour before the cutoff only, which every row stays in for a dozen rounds."""

    def __init__(self, database: Database, every: float = 300.0) -> None:
        self.database = database
        self.every = every
        self._within: timedelta | None = None
        self._stopping = False

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Squasher]:
        async with anyio.create_task_group() as group:
            group.start_soon(self._loop)
            try:
                yield self
            finally:
                self._stopping = True  # a round in progress stops after its document
                group.cancel_scope.cancel()

    async def _loop(self) -> None:
        while True:
            await anyio.sleep(self.every)
            try:
                removed = await anyio.to_thread.run_sync(self.round)
            except Exception:  # the loop's top-level handler: try again next round
                log.exception("history: squashing round failed")
                continue
            if removed:
                log.info("history: squashing removed %d log rows", removed)

    def round(self) -> int:
        with self.database.session() as session:
            removed = squash_all(session, within=self._within, stop=lambda: self._stopping)
        self._within = timedelta(hours=1)
        return removed
