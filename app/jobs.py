"""Periodic work of the served app: deadline reminders and locking, the daily digests.

Each job is idempotent and takes its own transaction, so every process may run the loop (the
first to act does the work, the others find nothing to do) and `arobase echeances` may run the
deadline job from cron as well. A failing job is logged and tried again at the next round; it
never stops the app.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from app.db import Database
from app.models._base import utcnow
from app.services import deadlines, notifications
from app.settings import Settings

log = logging.getLogger("arobase.jobs")
INTERVAL = 300.0  # seconds between rounds


def _deadlines(settings: Settings, database: Database) -> None:
    with database.session() as session:
        deadlines.tick(session, settings, deadlines.today_in_paris(utcnow()))


def _digests(settings: Settings, database: Database) -> None:
    with database.session() as session:
        notifications.send_digests(session, settings, utcnow())


JOBS: tuple[Callable[[Settings, Database], None], ...] = (_deadlines, _digests)


def run_once(settings: Settings, database: Database) -> None:
    for job in JOBS:
        try:
            job(settings, database)
        except Exception:  # the loop's top level: log, and try again next round
            log.exception("periodic job %s failed", job.__name__)


async def loop(settings: Settings, database: Database, interval: float = INTERVAL) -> None:
    while True:
        await anyio.to_thread.run_sync(run_once, settings, database)
        await anyio.sleep(interval)


@asynccontextmanager
async def running(settings: Settings, database: Database) -> AsyncIterator[None]:
    async with anyio.create_task_group() as group:
        group.start_soon(loop, settings, database)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
