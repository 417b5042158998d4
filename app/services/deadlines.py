"""The campagne deadline: reminders 7 days and 1 day before, then every brouillon is locked.

`tick` is idempotent (a reminder is recorded once per dossier and delay; a locked dossier is
no longer a brouillon), so the app runs it periodically in every process and `arobase
echeances` can run it from cron: whichever runs first does the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.models import Campagne, DeadlineNotice, Dossier, DossierState
from app.services import audit, dossiers, members, notifications, versions
from app.settings import Settings
from app.templating import PARIS, french_date

REMINDERS = (7, 1)  # days before the deadline


@dataclass(frozen=True)
class TickReport:
    reminded: int
    locked: int


def today_in_paris(now: datetime) -> date:
    return now.astimezone(PARIS).date()


def tick(session: Session, settings: Settings, today: date) -> TickReport:
    """Send the reminders that are due and lock what the deadline has passed (the deadline day
    itself is still open: locking starts the day after, Paris time)."""
    rows = session.exec(
        select(Dossier, Campagne)
        .join(Campagne, col(Campagne.id) == Dossier.campagne_id)
        .where(Dossier.etat == DossierState.brouillon)
    ).all()
    reminded = locked = 0
    for dossier, campagne in rows:
        days_left = (campagne.date_limite - today).days
        if days_left < 0:
            locked += _lock(session, settings, dossier, campagne)
            continue
        # The nearest reminder due (a late first tick sends only that one, not both at once).
        due = min((d for d in REMINDERS if days_left <= d), default=None)
        if due is not None and _remind(session, settings, dossier, campagne, due):
            reminded += 1
    return TickReport(reminded, locked)


def _remind(
    session: Session, settings: Settings, dossier: Dossier, campagne: Campagne, delay: int
) -> bool:
    """Record the reminder first (unique per dossier and delay), so two processes never send it
    twice; False when it was already sent."""
    if session.exec(
        select(DeadlineNotice).where(
            DeadlineNotice.dossier_id == dossier.id, DeadlineNotice.days_before == delay
        )
    ).first():
        return False
    try:
        with session.begin_nested():
            session.add(DeadlineNotice(dossier_id=dossier.id or 0, days_before=delay))
    except IntegrityError:
        return False
    # A late first tick (the app was down) sends only the nearest reminder: mark the others.
    for other in REMINDERS:
        if other > delay:
            try:
                with session.begin_nested():
                    session.add(DeadlineNotice(dossier_id=dossier.id or 0, days_before=other))
            except IntegrityError:
                pass
    ref = dossiers.ref(session, dossier.id or 0)
    when = "demain" if delay == 1 else f"dans {delay} jours"
    body = (
        f"La date limite de dépôt de « {campagne.titre} » est le "
        f"{french_date(campagne.date_limite)} ({when}). Le dossier de {ref.collectivite.nom} "
        "n'est pas encore déposé : passé cette date, il sera verrouillé. Vérifiez sa "
        "complétude et déposez-le."
    )
    for person in members.referents(session, dossier):
        notifications.notify(
            session,
            settings,
            person,
            "echeance",
            f"Date limite {when}",
            body,
            f"/dossiers/{dossier.id}/completude",
            dossier.id,
        )
    audit.record(
        session,
        "dossier.rappel_echeance",
        dossier_id=dossier.id,
        target=f"dossier:{dossier.id}",
        jours=delay,
    )
    return True


def _lock(session: Session, settings: Settings, dossier: Dossier, campagne: Campagne) -> int:
    changed = session.exec(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.etat) == DossierState.brouillon)
        .values(etat=DossierState.verrouille)
    )
    if changed.rowcount != 1:
        return 0
    session.refresh(dossier)
    # Every status change names the dossier's state: this one is what the deadline froze.
    label = f"Verrouillage à l'échéance du {french_date(campagne.date_limite)}"
    versions.create_version(session, dossier, label, "statut", None)
    change: dict[str, Any] = {"from": DossierState.brouillon, "to": DossierState.verrouille}
    audit.record(
        session, "dossier.state", dossier_id=dossier.id, target=f"dossier:{dossier.id}", **change
    )
    ref = dossiers.ref(session, dossier.id or 0)
    body = (
        f"La date limite de « {campagne.titre} » ({french_date(campagne.date_limite)}) est "
        f"passée : le dossier de {ref.collectivite.nom}, qui n'avait pas été déposé, est "
        "verrouillé. Ses réponses restent consultables ; l'association Villes Internet peut le "
        "rouvrir."
    )
    for person in members.referents(session, dossier):
        notifications.notify(
            session,
            settings,
            person,
            "verrouillage",
            "Dossier verrouillé",
            body,
            f"/dossiers/{dossier.id}",
            dossier.id,
        )
    return 1
