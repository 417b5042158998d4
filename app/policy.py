"""The one permission matrix: may this person do this action on that dossier or section?

Routes, templates (to hide what one may not do), services and the collab gate all ask `can` or
`require`. Rules are pure functions of `Facts` (who the actor is, their role in the dossier,
whether they own the section, the dossier's state), loaded once by `facts_for`; so the whole
matrix is testable without a database, and a new action is one line in `RULES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, col, select

from app.errors import Forbidden
from app.models import Affectation, Dossier, DossierState, Membre, Role, Section, User
from app.models.dossier import SectionStatus


class Action(StrEnum):
    DOSSIER_READ = "dossier:read"
    DOSSIER_EXPORT = "dossier:export"
    SECTION_READ = "section:read"
    SECTION_WRITE = "section:write"
    SECTION_ASSIGN = "section:assign"
    # The section workflow (`app.services.workflow` says from which status each one starts).
    SECTION_MARK_DONE = "section:mark-done"  # « J'ai terminé »: to be read over
    SECTION_VALIDATE = "section:validate"
    SECTION_SEND_BACK = "section:send-back"  # back to writing, with what to fix
    SECTION_REOPEN = "section:reopen"  # a validated section becomes writable again
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"  # invite, revoke, re-send, change a role, remove
    REFERENT_TRANSFER = "referent:transfer"
    ACCOUNTS_MANAGE = "accounts:manage"  # platform: disable and enable accounts
    OUTBOX_READ = "outbox:read"  # platform: the mails kept when there is no SMTP
    AUDIT_READ = "audit:read"  # platform: the audit journal, its export and its verification


@dataclass(frozen=True)
class Facts:
    user: User
    dossier_state: str
    role: Role | None  # None: not a (current) member of the dossier
    owns_section: bool = False
    section_status: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin

    @property
    def is_jury(self) -> bool:
        return self.user.is_jury


_SUBMITTED = {DossierState.depose, DossierState.en_instruction, DossierState.labellise}


def _may_read(f: Facts) -> bool:
    if f.role is not None or f.is_admin:
        return True
    # The jury reads what was submitted, never a draft.
    return f.is_jury and f.dossier_state in _SUBMITTED


def _author_in_draft(f: Facts) -> bool:
    """The référent, or a producteur owning the section, while the dossier is a draft."""
    if f.dossier_state != DossierState.brouillon:
        return False
    return f.role == Role.referent or (f.role == Role.producteur and f.owns_section)


def _may_write_section(f: Facts) -> bool:
    # A validated section is settled: nobody writes it until the référent reopens it.
    return f.section_status != SectionStatus.validee and _author_in_draft(f)


def _may_export(f: Facts) -> bool:
    return f.role == Role.referent or f.is_admin or (f.is_jury and f.dossier_state in _SUBMITTED)


def _referent_of_draft(f: Facts) -> bool:
    # Who works on the dossier is settled before submission; afterwards nothing moves.
    return f.role == Role.referent and f.dossier_state == DossierState.brouillon


def _admin(f: Facts) -> bool:
    return f.is_admin


RULES: dict[Action, Callable[[Facts], bool]] = {
    Action.DOSSIER_READ: _may_read,
    Action.DOSSIER_EXPORT: _may_export,
    Action.SECTION_READ: _may_read,
    Action.SECTION_WRITE: _may_write_section,
    Action.SECTION_ASSIGN: _referent_of_draft,
    # Who may ask for a transition; whether the section's status allows it is the workflow's
    # business (a 409, not a 403: the person has the right, the section moved meanwhile).
    Action.SECTION_MARK_DONE: _author_in_draft,
    Action.SECTION_VALIDATE: _referent_of_draft,
    Action.SECTION_SEND_BACK: _referent_of_draft,
    Action.SECTION_REOPEN: _referent_of_draft,
    Action.MEMBERS_READ: _may_read,
    Action.MEMBERS_MANAGE: _referent_of_draft,
    Action.REFERENT_TRANSFER: _referent_of_draft,
    Action.ACCOUNTS_MANAGE: _admin,
    Action.OUTBOX_READ: _admin,
    Action.AUDIT_READ: _admin,
}


def can(facts: Facts, action: Action) -> bool:
    if not facts.user.is_active:
        return False
    return RULES[action](facts)


def require(facts: Facts, action: Action) -> None:
    if not can(facts, action):
        raise Forbidden()


def platform_facts(user: User) -> Facts:
    """Facts for actions that concern no dossier (administration)."""
    return Facts(user=user, dossier_state="", role=None)


def facts_for(
    session: Session, user: User, dossier: Dossier, section: Section | None = None
) -> Facts:
    membre = session.exec(
        select(Membre).where(
            Membre.dossier_id == dossier.id,
            Membre.user_id == user.id,
            col(Membre.removed_at).is_(None),
        )
    ).first()
    owns = False
    if section is not None and membre is not None:
        owns = (
            session.exec(
                select(Affectation.id).where(
                    Affectation.section_id == section.id, Affectation.user_id == user.id
                )
            ).first()
            is not None
        )
    return Facts(
        user=user,
        dossier_state=dossier.etat,
        role=Role(membre.role) if membre else None,
        owns_section=owns,
        section_status=section.statut if section else None,
    )
