"""The campagne deadline: reminders 7 days and 1 day before (once each), then locking."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select

from app import policy
from app.db import Database
from app.models import AuditEvent, Dossier, DossierState, Section, Version
from app.policy import Action
from app.services import deadlines

from ..conftest import make_settings
from .factories import World, world
from .mails import outbox

DEADLINE = date(2029, 11, 15)  # tests/app/data/mini.yaml


def tick(database: Database, day: date) -> deadlines.TickReport:
    with database.session() as session:
        return deadlines.tick(session, make_settings(database.url), day)


def etat(database: Database, w: World) -> str:
    with database.session() as session:
        dossier = session.get(Dossier, w.dossier.id)
        assert dossier is not None
        return dossier.etat


def reminders(database: Database) -> list[str]:
    return [m.subject for m in outbox(database) if m.kind == "echeance"]


def test_reminders_are_sent_once_7_days_then_1_day_before(database: Database) -> None:
    with database.session() as session:
        w = world(session)
    assert tick(database, DEADLINE - timedelta(days=8)).reminded == 0
    assert tick(database, DEADLINE - timedelta(days=7)).reminded == 1
    assert tick(database, DEADLINE - timedelta(days=7)).reminded == 0  # the same day again
    assert tick(database, DEADLINE - timedelta(days=3)).reminded == 0
    assert tick(database, DEADLINE - timedelta(days=1)).reminded == 1
    assert tick(database, DEADLINE).reminded == 0  # the last day is still open
    assert reminders(database) == ["Date limite dans 7 jours", "Date limite demain"]
    [first, _] = [m for m in outbox(database) if m.kind == "echeance"]
    assert first.to == w.referent.email
    assert f"/dossiers/{w.dossier.id}/completude" in first.body
    assert etat(database, w) == DossierState.brouillon


def test_a_late_first_tick_sends_only_the_nearest_reminder(database: Database) -> None:
    with database.session() as session:
        world(session)
    assert tick(database, DEADLINE - timedelta(days=1)).reminded == 1
    assert tick(database, DEADLINE - timedelta(days=1)).reminded == 0
    assert reminders(database) == ["Date limite demain"]


def test_the_day_after_the_deadline_a_draft_is_locked(database: Database) -> None:
    with database.session() as session:
        w = world(session)
    report = tick(database, DEADLINE + timedelta(days=1))
    assert report.locked == 1
    assert etat(database, w) == DossierState.verrouille
    assert tick(database, DEADLINE + timedelta(days=2)).locked == 0
    assert [m.subject for m in outbox(database, w.referent.email)] == ["Dossier verrouillé"]
    with database.session() as session:
        kinds = [e.kind for e in session.exec(select(AuditEvent))]
        assert kinds.count("dossier.state") == 1
        locked_version = session.exec(select(Version)).one()  # the frozen state is named
        assert (locked_version.kind, locked_version.label) == (
            "statut",
            "Verrouillage à l'échéance du 15 novembre 2029",
        )
        dossier = session.get(Dossier, w.dossier.id)
        section = session.get(Section, w.sections[0].id)
        assert dossier is not None and section is not None
        facts = policy.facts_for(session, w.referent, dossier, section)
        assert not policy.can(facts, Action.SECTION_WRITE)
        assert policy.can(facts, Action.SECTION_READ)  # still readable
        admin_facts = policy.facts_for(session, w.admin, dossier)
        assert policy.can(admin_facts, Action.DOSSIER_CORRECTION)  # the association may reopen


def test_a_submitted_dossier_is_neither_reminded_nor_locked(database: Database) -> None:
    with database.session() as session:
        w = world(session)
        dossier = session.get(Dossier, w.dossier.id)
        assert dossier is not None
        dossier.etat = DossierState.depose
        session.add(dossier)
    assert tick(database, DEADLINE - timedelta(days=1)) == deadlines.TickReport(0, 0)
    assert tick(database, DEADLINE + timedelta(days=1)) == deadlines.TickReport(0, 0)
    assert etat(database, w) == DossierState.depose
