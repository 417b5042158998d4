"""Periodic work of the served app: deadline reminders and locking, the daily digests.

Each job is idempotent and takes its own transaction, so every process may run the loop (the
first to act does the work, the others find nothing to do) and `arobase echeances` may run the
deadline job from cron as well. A failing job is logged and tried again at the next round; it
never stops the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
from sqlmodel import col, select

from app.db import Database
from app.models import Dossier, DossierState
from app.models._base import utcnow
from app.services import deadlines, notifications
from app.settings import Settings

log = logging.getLogger("arobase.jobs")
INTERVAL = 300.0  # seconds between rounds


# A job returns True when it changed someone's rights (a dossier locked at the deadline): the
# open editing connections must then be re-checked at once, not at the next HTTP request.
Job = Callable[[Settings, Database], bool]
RightsChanged = Callable[[], Awaitable[None]]


def _deadlines(settings: Settings, database: Database) -> bool:
    with database.session() as session:
        report = deadlines.tick(session, settings, deadlines.today_in_paris(utcnow()))
    return report.locked > 0  # committed by now: a re-check reads the locked state


def _digests(settings: Settings, database: Database) -> bool:
    with database.session() as session:
        notifications.send_digests(session, settings, utcnow())
    return False


def locked_elsewhere() -> Job:
    """A job that notices dossiers locked by another hand: `arobase echeances` run from cron
    where no Redis carries its « re-check » to the serving processes. When the set of locked
    dossiers changed since the last round, the open connections are re-checked (once more when
    this process locked them itself: a re-check is idempotent). A set, not a count: a dossier
    reopened in the same round as another is locked leaves the count as it was."""
    seen: frozenset[int | None] | None = None

    def _locked_elsewhere(settings: Settings, database: Database) -> bool:
        nonlocal seen
        with database.session() as session:
            locked = frozenset(
                session.exec(
                    select(Dossier.id).where(col(Dossier.etat) == DossierState.verrouille)
                ).all()
            )
        before, seen = seen, locked
        return before is not None and locked != before

    return _locked_elsewhere


JOBS: tuple[Job, ...] = (_deadlines, _digests)


def run_once(settings: Settings, database: Database, extra: Sequence[Job] = ()) -> bool:
    """Run every job; True if one of them changed rights."""
    changed = False
    for job in (*JOBS, *extra):
        try:
            changed = job(settings, database) or changed
        except Exception:  # the loop's top level: log, and try again next round
            log.exception("periodic job %s failed", job.__name__)
    return changed


async def loop(
    settings: Settings,
    database: Database,
    interval: float = INTERVAL,
    on_rights_changed: RightsChanged | None = None,
) -> None:
    watch = locked_elsewhere()  # its memory belongs to this loop
    while True:
        changed = await anyio.to_thread.run_sync(run_once, settings, database, (watch,))
        if changed and on_rights_changed is not None:
            await on_rights_changed()
        await anyio.sleep(interval)


@asynccontextmanager
async def running(
    settings: Settings,
    database: Database,
    on_rights_changed: RightsChanged | None = None,
    interval: float = INTERVAL,
) -> AsyncIterator[None]:
    async with anyio.create_task_group() as group:
        group.start_soon(loop, settings, database, interval, on_rights_changed)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
