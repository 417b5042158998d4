"""Submitting a dossier (« déposer »), what blocks it, and an admin's request for correction.

A submission freezes the dossier: its state leaves `brouillon`, so the policy refuses every
write, over HTTP and on the live connections (the `dossier.state` audit event makes the app
re-check those at once). What was submitted is a named version pointing into the update log,
summarised by a digest of every answer that the server signs; the receipt (PDF) carries both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid
from app.models import Depot, Dossier, DossierState, Section, SectionStatus, User
from app.models._base import utcnow
from app.services import audit, dossiers, members, notifications, receipt, versions
from app.settings import Settings
from app.templating import french_date

MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Blocker:
    """One thing that stands between the dossier and its submission, and where to fix it."""

    section_title: str
    message: str
    href: str


def blockers(views: list[dossiers.SectionView]) -> list[Blocker]:
    found = []
    for view in views:
        title, href = view.theme.titre, f"/sections/{view.section.id}"
        for question in view.required_missing:
            found.append(
                Blocker(
                    title,
                    f"Question obligatoire sans réponse : « {question.libelle} »",
                    f"{href}#q-{question.cle.replace('.', '-')}",  # the question's card
                )
            )
        if view.section.statut != SectionStatus.validee:
            found.append(Blocker(title, "Section pas encore validée par le ou la référente", href))
    return found


def snapshot(views: list[dossiers.SectionView]) -> dict[str, Any]:
    """Every answer, in a canonical form: what the digest covers."""
    return {
        view.theme.cle: {
            key: {"valeur": answer.value if not answer.empty else None, "texte": answer.text}
            for key, answer in sorted(view.answers.items())
        }
        for view in views
    }


def digest_of(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sign(settings: Settings, digest: str) -> str:
    return hmac.new(settings.secret_key.encode(), digest.encode(), hashlib.sha256).hexdigest()


def submit(session: Session, settings: Settings, actor: User, dossier: Dossier) -> Depot:
    """Submit `dossier` (the caller has asked the policy). Raises Invalid listing what blocks
    it, Conflict when it is no longer a brouillon (submitted or locked meanwhile)."""
    ref = dossiers.ref(session, dossier.id or 0)
    views = dossiers.section_views(session, dossier)
    found = blockers(views)
    if found:
        raise Invalid(
            f"Le dossier ne peut pas encore être déposé : {len(found)} point(s) à régler.",
            {"depot": "Vérifiez la complétude du dossier."},
        )
    now = utcnow()
    changed = session.exec(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.etat) == DossierState.brouillon)
        .values(etat=DossierState.depose, depose_at=now)
    )
    if changed.rowcount != 1:
        raise Conflict("Ce dossier n'est plus un brouillon : il a déjà été déposé ou verrouillé.")
    session.refresh(dossier)
    version = versions.create_version(
        session, dossier, f"Dépôt du {french_date(now, with_time=True)}", "depot", actor
    )
    digest = digest_of(snapshot(views))
    signature = sign(settings, digest)
    pdf = receipt.render(
        receipt.Receipt(
            collectivite=ref.collectivite.nom,
            campagne=ref.campagne.titre,
            dossier_id=dossier.id or 0,
            submitted_at=now,
            submitted_by=actor.name,
            submitted_by_email=actor.email,
            sections=[
                receipt.ReceiptSection(
                    v.theme.titre, v.section.statut, v.answered, len(v.questions)
                )
                for v in views
            ],
            digest=digest,
            signature=signature,
        )
    )
    depot = Depot(
        dossier_id=dossier.id or 0,
        version_id=version.id,
        submitted_by=actor.id or 0,
        submitted_at=now,
        digest=digest,
        signature=signature,
        receipt=pdf,
    )
    session.add(depot)
    session.flush()
    _state_changed(session, actor, dossier, DossierState.brouillon, DossierState.depose)
    audit.record(
        session,
        "dossier.depot",
        actor=actor,
        dossier_id=dossier.id,
        target=f"dossier:{dossier.id}",
        depot=depot.id,
        digest=digest,
    )
    body = (
        f"{actor.name} a déposé le dossier de {ref.collectivite.nom} ({ref.campagne.titre}) le "
        f"{french_date(now, with_time=True)}. L'accusé de dépôt est joint à ce message.\n\n"
        f"Empreinte des réponses : {digest}"
    )
    attachment = (f"accuse-depot-dossier-{dossier.id}.pdf", "application/pdf", pdf)
    for person in members.referents(session, dossier):
        notifications.notify(
            session,
            settings,
            person,
            "depot",
            f"Dossier déposé : {ref.collectivite.nom}",
            body,
            f"/dossiers/{dossier.id}/completude",
            dossier.id,
            attachment,
        )
    return depot


def request_correction(
    session: Session,
    settings: Settings,
    actor: User,
    dossier: Dossier,
    section_ids: list[int],
    message: str,
) -> None:
    """An admin sends a submitted dossier back: the chosen sections reopen, the others stay
    validated (read-only), and the référents and those sections' producteurs are told why."""
    message = message.strip()
    sections = list(session.exec(select(Section).where(Section.dossier_id == dossier.id)))
    chosen = [s for s in sections if s.id in set(section_ids)]
    problems = {}
    if not chosen:
        problems["sections"] = "Choisissez au moins une section à rouvrir."
    if not message:
        problems["message"] = "Écrivez ce qu'il faut corriger."
    elif len(message) > MAX_MESSAGE:
        problems["message"] = f"Le message est trop long : {MAX_MESSAGE} caractères au plus."
    if problems:
        raise Invalid("La demande de correction est incomplète.", problems)
    previous = dossier.etat
    changed = session.exec(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id, col(Dossier.etat) == previous)
        .values(etat=DossierState.brouillon)
    )
    if changed.rowcount != 1:
        raise Conflict("Le dossier a changé d'état entre-temps : rechargez la page.")
    session.refresh(dossier)
    # Names what the jury had (or what the deadline froze) before the sections move again.
    versions.create_version(
        session,
        dossier,
        f"Correction demandée le {french_date(utcnow(), with_time=True)}",
        "statut",
        actor,
    )
    for section in sections:
        section.statut = SectionStatus.en_cours if section in chosen else SectionStatus.validee
        section.updated_at = utcnow()
        session.add(section)
    session.flush()
    _state_changed(session, actor, dossier, previous, DossierState.brouillon)
    audit.record(
        session,
        "dossier.correction",
        actor=actor,
        dossier_id=dossier.id,
        target=f"dossier:{dossier.id}",
        sections=[s.id for s in chosen],
        message=message,
    )
    ref = dossiers.ref(session, dossier.id or 0)
    people = {u.id: u for u in members.referents(session, dossier)}
    for section in chosen:
        people.update({u.id: u for u in members.owners(session, section)})
    body = (
        f"L'association Villes Internet demande une correction du dossier de "
        f"{ref.collectivite.nom} avant de l'instruire.\n\nSon message :\n{message}\n\n"
        "Les sections concernées sont rouvertes à l'écriture."
    )
    for person in people.values():
        if person.id != actor.id:
            notifications.notify(
                session,
                settings,
                person,
                "correction",
                "Correction demandée",
                body,
                f"/dossiers/{dossier.id}",
                dossier.id,
            )


def _state_changed(
    session: Session, actor: User | None, dossier: Dossier, before: str, after: str
) -> None:
    # `dossier.state` re-checks every open editing connection after the commit.
    change: dict[str, Any] = {"from": before, "to": after}
    audit.record(
        session,
        "dossier.state",
        actor=actor,
        dossier_id=dossier.id,
        target=f"dossier:{dossier.id}",
        **change,
    )


def last_depot(session: Session, dossier_id: int) -> Depot | None:
    return session.exec(
        select(Depot).where(Depot.dossier_id == dossier_id).order_by(col(Depot.id).desc())
    ).first()
