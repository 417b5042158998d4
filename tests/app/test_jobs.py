"""The periodic jobs of the served app: one failing job neither stops the others nor the app."""

from __future__ import annotations

import logging
from datetime import date

import anyio
import pytest

from app import jobs
from app.db import Database
from app.models import Collectivite, CollectiviteKind, DeadlineNotice, Dossier, DossierState
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

    def broken(settings: object, db: object) -> bool:
        raise RuntimeError("boom")

    def deadline_job(settings: object, db: Database) -> bool:
        with db.session() as session:  # as if today were the day before the deadline
            report = deadlines.tick(session, make_settings(db.url), DAY_BEFORE)
        ran.append(f"reminded {report.reminded}")
        return False

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


def test_a_lock_at_the_deadline_rechecks_open_connections_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.session() as session:
        dossier_id = world(session).dossier.id
    # As if today were the day after the deadline: the first round locks the brouillon.
    monkeypatch.setattr(deadlines, "today_in_paris", lambda now: date(2029, 11, 16))
    states: list[DossierState] = []

    async def recheck() -> None:  # what the app passes: re-evaluate every open connection
        with database.session() as session:
            dossier = session.get(Dossier, dossier_id)
            assert dossier is not None
            states.append(dossier.etat)

    async def scenario() -> None:
        async with jobs.running(make_settings(database.url), database, recheck, interval=0.01):
            with anyio.fail_after(10):
                while not states:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.1)  # several more rounds, which lock nothing

    anyio.run(scenario)
    # Called once, after the lock was committed (so the re-check reads the locked state).
    assert states == [DossierState.verrouille]


def test_a_lock_made_by_another_hand_rechecks_open_connections(database: Database) -> None:
    """`arobase echeances` run from cron where no Redis carries its message: the served app
    notices at its next round that dossiers were locked and re-checks its connections."""
    with database.session() as session:
        dossier_id = world(session).dossier.id  # its deadline is in 2029: the app locks nothing
    rechecks: list[DossierState] = []

    async def recheck() -> None:
        with database.session() as session:
            dossier = session.get(Dossier, dossier_id)
            assert dossier is not None
            rechecks.append(dossier.etat)

    async def scenario() -> None:
        async with jobs.running(make_settings(database.url), database, recheck, interval=0.01):
            await anyio.sleep(0.1)  # rounds that find nothing to do, and so re-check nothing
            assert rechecks == []
            with database.session() as session:  # cron, as if the day after the deadline
                report = deadlines.tick(session, make_settings(database.url), date(2029, 11, 16))
            assert report.locked == 1
            with anyio.fail_after(10):
                while not rechecks:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.1)

    anyio.run(scenario)
    assert rechecks == [DossierState.verrouille]


def test_a_lock_is_noticed_when_another_dossier_was_reopened_in_the_same_round(
    database: Database,
) -> None:
    """One dossier locked while another leaves the lock: as many locked as before, yet the
    connections to the newly locked one must turn read-only."""
    settings = make_settings(database.url)
    with database.session() as session:
        first = world(session).dossier
        commune = Collectivite(
            nom="Autreville", code_insee="99002", kind=CollectiviteKind.commune, population=900
        )
        session.add(commune)
        session.flush()
        second = Dossier(
            collectivite_id=commune.id or 0,
            campagne_id=first.campagne_id,
            questionnaire_id=first.questionnaire_id,
            etat=DossierState.verrouille,
        )
        session.add(second)
        session.flush()
        ids = first.id, second.id
    job = jobs.locked_elsewhere()
    assert job(settings, database) is False  # the first round only learns what is locked
    assert job(settings, database) is False  # nothing moved
    with database.session() as session:
        swap = (DossierState.verrouille, DossierState.brouillon)
        for dossier_id, state in zip(ids, swap, strict=True):
            dossier = session.get(Dossier, dossier_id)
            assert dossier is not None
            dossier.etat = state
            session.add(dossier)
    assert job(settings, database) is True
    assert job(settings, database) is False
