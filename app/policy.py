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
    # History (app/routes/history.py): a section's timeline, its past states, diffs between any
    # two of them and « qui a écrit quoi ? »; named versions; restoring a past state.
    HISTORY_READ = "history:read"
    VERSION_CREATE = "version:create"  # « Enregistrer une version » of the whole dossier
    SECTION_RESTORE = "section:restore"  # bring a past state back, as a new change
    CONTRIBUTIONS_READ = "contributions:read"  # who contributed what, per person, to a dossier
    # Submission (`app.services.submission`).
    DOSSIER_COMPLETENESS = "dossier:completeness"  # « vérifier la complétude »: what blocks it
    DOSSIER_SUBMIT = "dossier:submit"  # « déposer »
    DOSSIER_RECEIPT = "dossier:receipt"  # the submission receipt (PDF)
    DOSSIER_CORRECTION = "dossier:correction"  # platform: send a submitted dossier back
    # Comments (`app.services.comments`): threads on a question or on a passage of its answer.
    COMMENT_READ = "comment:read"  # the threads of a section, and their live feed
    COMMENT_WRITE = "comment:write"  # open a thread, reply, re-attach a thread to a new passage
    COMMENT_DELETE_OWN = "comment:delete-own"  # delete one's own comment
    COMMENT_MODERATE = "comment:moderate"  # delete anyone's comment, or a whole thread
    THREAD_RESOLVE = "thread:resolve"  # resolve a thread, or reopen it


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


def _may_read_history(f: Facts) -> bool:
    """Who wrote what is the working team's business: the référents, the section's own
    producteurs, the relecteurs (they review the changes), and the association's staff, who
    audit every contribution. Not the producteurs of other sections (they read the current
    text, not who typed it), and not the jury, who judges the submitted dossier, not its drafts.
    In every dossier state: history is kept, and read, after submission too."""
    if f.is_admin:
        return True
    return f.role in (Role.referent, Role.relecteur) or (
        f.role == Role.producteur and f.owns_section
    )


def _may_restore(f: Facts) -> bool:
    # A restore writes the section: only while it may be written, and only by the référent
    # (bringing back an old text overrides everyone's later work).
    return f.section_status != SectionStatus.validee and _referent_of_draft(f)


def _referent_or_admin(f: Facts) -> bool:
    return f.role == Role.referent or f.is_admin


def _team_or_admin(f: Facts) -> bool:
    # What still blocks the dossier is the whole team's business (not the jury's).
    return f.role is not None or f.is_admin


def _receipt(f: Facts) -> bool:
    return _referent_or_admin(f) and f.dossier_state in _SUBMITTED


def _admin_after_submission(f: Facts) -> bool:
    # A locked dossier (deadline passed) can be reopened the same way as a submitted one.
    reopenable = {DossierState.depose, DossierState.en_instruction, DossierState.verrouille}
    return f.is_admin and f.dossier_state in reopenable


def _member_of_draft(f: Facts) -> bool:
    """Référents, producteurs (of any section: one reads the rest and comments on it) and
    relecteurs discuss while the dossier is a draft; a validated section may still be
    commented. After submission (or the deadline) the discussion is read-only."""
    return f.role is not None and f.dossier_state == DossierState.brouillon


def _may_resolve_thread(f: Facts) -> bool:
    # The référent settles any thread; a producteur the threads on the sections they write.
    return f.dossier_state == DossierState.brouillon and (
        f.role == Role.referent or (f.role == Role.producteur and f.owns_section)
    )


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
    Action.HISTORY_READ: _may_read_history,
    Action.VERSION_CREATE: _referent_of_draft,
    Action.SECTION_RESTORE: _may_restore,
    Action.CONTRIBUTIONS_READ: _referent_or_admin,
    Action.DOSSIER_COMPLETENESS: _team_or_admin,
    Action.DOSSIER_SUBMIT: _referent_of_draft,
    Action.DOSSIER_RECEIPT: _receipt,
    Action.DOSSIER_CORRECTION: _admin_after_submission,
    # Threads are the team's working notes: its members and the association's staff read them
    # in every state (kept after submission); the jury judges the dossier, not the discussion.
    Action.COMMENT_READ: _team_or_admin,
    Action.COMMENT_WRITE: _member_of_draft,
    Action.COMMENT_DELETE_OWN: _member_of_draft,
    Action.COMMENT_MODERATE: _referent_of_draft,
    Action.THREAD_RESOLVE: _may_resolve_thread,
}


def can(facts: Facts, action: Action) -> bool:
    if not facts.user.is_active:
        return False
    return RULES[action](facts)


def require(facts: Facts, action: Action) -> None:
    if not can(facts, action):
        raise Forbidden()


def may_delete_comment(facts: Facts, authored: bool) -> bool:
    """One's own comment with `COMMENT_DELETE_OWN`, anyone's with `COMMENT_MODERATE`."""
    return can(facts, Action.COMMENT_MODERATE) or (
        authored and can(facts, Action.COMMENT_DELETE_OWN)
    )


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
