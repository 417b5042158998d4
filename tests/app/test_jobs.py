"""The periodic jobs of the served app: one failing job neither stops the others nor the app."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from app import jobs
from app.db import Database
from app.models import DeadlineNotice
from app.services import deadlines

from ..conftest import make_settings
from .factories import world

DAY_BEFORE = date(2029, 11, 14)  # tests/app/data/mini.yaml's deadline is the 15th


def test_a_failing_job_is_logged_and_the_others_still_run(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with database.session() as session:
        world(session)
    ran: list[str] = []

    def broken(settings: object, db: object) -> None:
        raise RuntimeError("boom")

    def deadline_job(settings: object, db: Database) -> None:
        with db.session() as session:  # as if today were the day before the deadline
            report = deadlines.tick(session, make_settings(db.url), DAY_BEFORE)
        ran.append(f"reminded {report.reminded}")

    monkeypatch.setattr(jobs, "JOBS", (broken, deadline_job))
    with caplog.at_level(logging.ERROR, logger="arobase.jobs"):
        jobs.run_once(make_settings(database.url), database)
    assert ran == ["reminded 1"]
    assert "periodic job broken failed" in caplog.text
    with database.session() as session:
        assert session.get(DeadlineNotice, 1) is not None


def test_the_real_jobs_run_cleanly(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    with database.session() as session:
        world(session)  # its campagne ends in 2029: nothing is due today
    with caplog.at_level(logging.ERROR, logger="arobase.jobs"):
        jobs.run_once(make_settings(database.url), database)
    assert caplog.text == ""  # every job ran without raising
