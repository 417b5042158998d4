"""The section workflow: à rédiger → en cours → à relire → validée, and the ways back.

`app.policy` says who may ask for each transition (`Action.SECTION_*`); this module says from
which status each one starts, applies it, records it (`section.statut`, which also re-checks
open editing connections: a validated section turns read-only at once), names the section's
state at that moment (a version of kind « statut », see `app.services.versions`) and tells the
people concerned by mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from app import policy
from app.errors import Conflict, Invalid, NotFound
from app.models import Dossier, Section, SectionStatus, Theme, User
from app.models._base import utcnow
from app.policy import Action
from app.services import audit, dossiers, members, notifications, versions
from app.settings import Settings
from app.templating import SECTION_STATUSES

MAX_MESSAGE = 4000  # characters: a few paragraphs of « what to fix », not a document


class Audience(StrEnum):
    REFERENTS = "referents"  # of the dossier
    OWNERS = "owners"  # the producteurs of the section


@dataclass(frozen=True)
class Transition:
    name: str  # as in the URL: POST /sections/{id}/statut/{name}
    action: Action
    sources: frozenset[SectionStatus]
    target: SectionStatus
    audience: Audience
    needs: str  # said when the section is not in one of `sources`
    subject: str  # the mail's; `{title}` is the section's
    text: str  # the mail's; `{actor}`, `{title}`, `{commune}`
    message_required: bool = False


_TRANSITIONS = (
    Transition(
        "terminer",
        Action.SECTION_MARK_DONE,
        frozenset({SectionStatus.a_rediger, SectionStatus.en_cours}),
        SectionStatus.a_relire,
        Audience.REFERENTS,
        needs="Seule une section à rédiger ou en cours peut être marquée comme terminée.",
        subject="Section à relire : {title}",
        text="{actor} a terminé la section « {title} » du dossier de {commune} : "
        "elle attend votre relecture.",
    ),
    Transition(
        "valider",
        Action.SECTION_VALIDATE,
        frozenset({SectionStatus.a_relire}),
        SectionStatus.validee,
        Audience.OWNERS,
        needs="Seule une section à relire peut être validée.",
        subject="Section validée : {title}",
        text="{actor} a validé la section « {title} » du dossier de {commune}. "
        "Elle n'est plus modifiable, sauf si elle est rouverte.",
    ),
    Transition(
        "renvoyer",
        Action.SECTION_SEND_BACK,
        frozenset({SectionStatus.a_relire}),
        SectionStatus.en_cours,
        Audience.OWNERS,
        needs="Seule une section à relire peut être renvoyée en rédaction.",
        subject="Section à reprendre : {title}",
        text="{actor} vous renvoie la section « {title} » du dossier de {commune} : "
        "elle repasse en rédaction.",
        message_required=True,
    ),
    Transition(
        "rouvrir",
        Action.SECTION_REOPEN,
        frozenset({SectionStatus.validee}),
        SectionStatus.en_cours,
        Audience.OWNERS,
        needs="Seule une section validée peut être rouverte.",
        subject="Section rouverte : {title}",
        text="{actor} a rouvert la section « {title} » du dossier de {commune} : "
        "vous pouvez de nouveau la modifier.",
    ),
)
TRANSITIONS: dict[str, Transition] = {t.name: t for t in _TRANSITIONS}


def get(name: str) -> Transition:
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise NotFound()
    return transition


def available(facts: policy.Facts) -> list[Transition]:
    """What this person may do to the section now: allowed to them, and from its status."""
    return [
        t for t in _TRANSITIONS if facts.section_status in t.sources and policy.can(facts, t.action)
    ]


def mark_started(session: Session, section_id: int, user_id: int) -> bool:
    """« à rédiger » → « en cours » at a section's first saved edit, attributed to its author.

    Conditional, like every status change: a section already moved on stays where it is, and of
    two processes storing the first edits at once only one records the change. No named version
    and no mail: an almost empty state is not worth naming, and nobody waits for this news.
    """
    changed = session.exec(
        update(Section)
        .where(col(Section.id) == section_id, col(Section.statut) == SectionStatus.a_rediger)
        .values(statut=SectionStatus.en_cours, updated_at=utcnow())
    )
    if changed.rowcount != 1:
        return False
    section = session.get(Section, section_id)
    change: dict[str, Any] = {"from": SectionStatus.a_rediger, "to": SectionStatus.en_cours}
    audit.record(
        session,
        "section.statut",
        actor_id=user_id,
        dossier_id=section.dossier_id if section else None,
        target=f"section:{section_id}",
        transition="premiere_modification",
        **change,
    )
    return True


def apply(
    session: Session,
    settings: Settings,
    actor: User,
    section: Section,
    transition: Transition,
    message: str,
) -> None:
    """Move `section` along `transition` (the caller has asked the policy), record it, mail it.

    Raises `Conflict` when the section is not in a status the transition starts from (it moved
    since the page was shown), `Invalid` when the message is missing or too long.
    """
    previous = section.statut
    if previous not in transition.sources:
        raise _conflict(previous, transition)
    message = message.strip()
    if transition.message_required and not message:
        raise Invalid(
            "Expliquez ce qu'il reste à corriger.",
            {"message": "Écrivez un message : dites ce qu'il reste à corriger dans la section."},
        )
    if len(message) > MAX_MESSAGE:
        limit = f"{MAX_MESSAGE:,}".replace(",", "\u202f")
        raise Invalid(
            "Le message est trop long.",
            {"message": f"Le message est trop long : {limit} caractères au plus."},
        )
    # Only from the status just read: of two people acting at once, the second one is told
    # that the section moved instead of silently overriding the first (PostgreSQL re-checks
    # the condition once the first transaction commits; SQLite serialises writers).
    changed = session.exec(
        update(Section)
        .where(col(Section.id) == section.id, col(Section.statut) == previous)
        .values(statut=transition.target, updated_at=utcnow())
    )
    if changed.rowcount != 1:
        session.refresh(section)
        raise _conflict(section.statut, transition)
    session.refresh(section)
    # `from` is a Python keyword: the event's data is spelled out as a mapping.
    change: dict[str, Any] = {"from": previous, "to": str(transition.target), "message": message}
    audit.record(
        session,
        "section.statut",
        actor=actor,
        dossier_id=section.dossier_id,
        target=f"section:{section.id}",
        transition=transition.name,
        **change,
    )
    _version(session, actor, section, transition)
    _notify(session, settings, actor, section, transition, message)


def _version(session: Session, actor: User, section: Section, transition: Transition) -> None:
    """Each status change names the section's state at that moment (« Section X : validée »),
    so the history can show, compare with and restore what was validated or sent back."""
    dossier = session.get(Dossier, section.dossier_id)
    theme = session.get(Theme, section.theme_id)
    if dossier is None or theme is None:  # only if foreign keys were bypassed
        raise NotFound()
    status = SECTION_STATUSES.get(transition.target, transition.target).lower()
    label = f"Section {theme.titre} : {status}"
    versions.create_version(session, dossier, label, "statut", actor, sections=[section])


def _conflict(status: str, transition: Transition) -> Conflict:
    label = SECTION_STATUSES.get(status, status).lower()
    return Conflict(f"La section est « {label} ». {transition.needs}")


def _notify(
    session: Session,
    settings: Settings,
    actor: User,
    section: Section,
    transition: Transition,
    message: str,
) -> None:
    ref = dossiers.ref(session, section.dossier_id)
    theme = session.get(Theme, section.theme_id)
    title = theme.titre if theme else section.doc_name
    if transition.audience == Audience.REFERENTS:
        people = members.referents(session, ref.dossier)
    else:
        people = members.owners(session, section)
    text = transition.text.format(actor=actor.name, title=title, commune=ref.collectivite.nom)
    said = f"\n\nSon message :\n{message}" if message else ""
    subject = transition.subject.format(title=title)
    for person in people:
        if person.id != actor.id:  # `notify` skips disabled accounts
            notifications.notify(
                session,
                settings,
                person,
                "statut",
                subject,
                f"{text}{said}",
                f"/sections/{section.id}",
                section.dossier_id,
            )
