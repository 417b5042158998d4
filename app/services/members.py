"""Who works on a dossier: memberships, roles, section owners, and what changing them does.

Every change is audited and the people concerned are told by mail. Removing someone ends their
access at once but keeps their row (their contributions stay attributed to them).
"""

from __future__ import annotations

from sqlmodel import Session, col, delete, select

from app.errors import Invalid, NotFound
from app.models import Affectation, Dossier, Membre, Role, Section, Theme, User
from app.models._base import utcnow
from app.services import audit, notifications
from app.settings import Settings
from app.templating import ROLE_LABELS


def role_of(session: Session, dossier: Dossier, user: User) -> Role | None:
    membre = _membre(session, dossier, user)
    return Role(membre.role) if membre and membre.removed_at is None else None


def _membre(session: Session, dossier: Dossier, user: User) -> Membre | None:
    return session.exec(
        select(Membre).where(Membre.dossier_id == dossier.id, Membre.user_id == user.id)
    ).first()


def active_member_by_email(session: Session, dossier: Dossier, email: str) -> User | None:
    return session.exec(
        select(User)
        .join(Membre, col(Membre.user_id) == User.id)
        .where(
            Membre.dossier_id == dossier.id,
            col(Membre.removed_at).is_(None),
            User.email == email,
        )
    ).first()


def _with_role(session: Session, dossier: Dossier, role: Role) -> list[User]:
    return list(
        session.exec(
            select(User)
            .join(Membre, col(Membre.user_id) == User.id)
            .where(
                Membre.dossier_id == dossier.id,
                Membre.role == role,
                col(Membre.removed_at).is_(None),
            )
            .order_by(col(User.name))
        )
    )


def referents(session: Session, dossier: Dossier) -> list[User]:
    return _with_role(session, dossier, Role.referent)


def sections_of(session: Session, dossier: Dossier, ids: list[int]) -> list[tuple[int, str]]:
    """(id, title) of those of `ids` that are sections of this dossier, in questionnaire order."""
    if not ids:
        return []
    rows = session.exec(
        select(Section.id, Theme.titre)
        .join(Theme, col(Theme.id) == Section.theme_id)
        .where(Section.dossier_id == dossier.id, col(Section.id).in_(ids))
        .order_by(col(Theme.ordre))
    )
    return [(int(section_id), title) for section_id, title in rows]  # type: ignore[arg-type]


def join(
    session: Session, dossier: Dossier, user: User, role: Role, actor: User | None = None
) -> Membre:
    """Make `user` a member with `role` (coming back after a removal reactivates the row)."""
    membre = _membre(session, dossier, user)
    if membre is None:
        membre = Membre(dossier_id=dossier.id, user_id=user.id, role=role)  # type: ignore[arg-type]
    membre.role, membre.removed_at = role, None
    session.add(membre)
    session.flush()
    audit.record(
        session,
        "membre.add",
        actor=actor,
        dossier_id=dossier.id,
        target=f"user:{user.id}",
        role=str(role),
    )
    return membre


def add_owner(session: Session, section: Section, user: User, actor: User | None) -> None:
    exists = session.exec(
        select(Affectation.id).where(
            Affectation.section_id == section.id, Affectation.user_id == user.id
        )
    ).first()
    if exists is not None:
        return
    session.add(
        Affectation(
            section_id=section.id,  # type: ignore[arg-type]
            user_id=user.id,  # type: ignore[arg-type]
            created_by_id=actor.id if actor else None,
        )
    )
    session.flush()
    audit.record(
        session,
        "section.assign",
        actor=actor,
        dossier_id=section.dossier_id,
        target=f"section:{section.id}",
        user_id=user.id,
    )


def owners(session: Session, section: Section) -> list[User]:
    return list(
        session.exec(
            select(User)
            .join(Affectation, col(Affectation.user_id) == User.id)
            .where(Affectation.section_id == section.id)
        )
    )


def producteurs(session: Session, dossier: Dossier) -> list[User]:
    return _with_role(session, dossier, Role.producteur)


def set_owners(
    session: Session,
    settings: Settings,
    actor: User,
    dossier: Dossier,
    wanted: dict[int, set[int]],
) -> int:
    """Set the owners of each section of `wanted` (section id → user ids); returns changes."""
    allowed = {u.id for u in producteurs(session, dossier)}
    sections = {
        s.id: s for s in session.exec(select(Section).where(Section.dossier_id == dossier.id))
    }
    titles = dict(sections_of(session, dossier, list(sections)))  # type: ignore[arg-type]
    if set(wanted) - set(sections) or any(ids - allowed for ids in wanted.values()):
        raise Invalid("Seuls les producteur·rices du dossier peuvent recevoir une section.")
    changes = 0
    for section_id, user_ids in wanted.items():
        section = sections[section_id]
        current = {u.id for u in owners(session, section) if u.id is not None}
        for user_id in user_ids - current:
            person = session.get(User, user_id)
            if person is not None:
                add_owner(session, section, person, actor)
                _notify(session, settings, actor, person, titles[section_id], added=True)
                changes += 1
        for user_id in current - user_ids:
            person = session.get(User, user_id)
            session.exec(
                delete(Affectation).where(
                    col(Affectation.section_id) == section_id, col(Affectation.user_id) == user_id
                )
            )
            audit.record(
                session,
                "section.unassign",
                actor=actor,
                dossier_id=dossier.id,
                target=f"section:{section_id}",
                user_id=user_id,
            )
            if person is not None:
                _notify(session, settings, actor, person, titles[section_id], added=False)
            changes += 1
    return changes


def _notify(
    session: Session, settings: Settings, actor: User, person: User, title: str, added: bool
) -> None:
    if added:
        subject = f"Nouvelle section à rédiger : {title}"
        text = f"{actor.name} vous a confié la section « {title} »."
    else:
        subject = f"Section retirée : {title}"
        text = f"{actor.name} vous a retiré la section « {title} » ; vous pouvez toujours la lire."
    notifications.notify(session, settings, person, "attribution", subject, text, "/dossiers")


def change_role(
    session: Session, settings: Settings, actor: User, dossier: Dossier, user: User, role: Role
) -> None:
    membre = _membre(session, dossier, user)
    if membre is None or membre.removed_at is not None:
        raise NotFound()
    if role == Role.referent:
        raise Invalid("Le rôle de référent·e se transmet : la personne doit l'accepter.")
    if membre.role == Role.referent and len(referents(session, dossier)) == 1:
        raise Invalid("Le dossier doit garder au moins un·e référent·e.")
    previous, membre.role = membre.role, role
    session.add(membre)
    if role != Role.producteur:
        _drop_assignments(session, actor, dossier, user)
    audit.record(
        session,
        "membre.role",
        actor=actor,
        dossier_id=dossier.id,
        target=f"user:{user.id}",
        before=previous,
        after=str(role),
    )
    notifications.notify(
        session,
        settings,
        user,
        "role",
        "Votre rôle dans le dossier a changé",
        f"{actor.name} a changé votre rôle : vous êtes désormais {ROLE_LABELS[role].lower()}.",
        f"/dossiers/{dossier.id}",
        dossier.id,
    )


def remove(session: Session, actor: User, dossier: Dossier, user: User) -> None:
    membre = _membre(session, dossier, user)
    if membre is None or membre.removed_at is not None:
        raise NotFound()
    if membre.role == Role.referent and len(referents(session, dossier)) == 1:
        raise Invalid(
            "Le dossier doit garder au moins un·e référent·e : transmettez d'abord le rôle."
        )
    membre.removed_at = utcnow()
    session.add(membre)
    _drop_assignments(session, actor, dossier, user)
    audit.record(
        session,
        "membre.remove",
        actor=actor,
        dossier_id=dossier.id,
        target=f"user:{user.id}",
        role=membre.role,
    )


def _drop_assignments(session: Session, actor: User, dossier: Dossier, user: User) -> None:
    section_ids = list(
        session.exec(
            select(Affectation.section_id)
            .join(Section, col(Section.id) == Affectation.section_id)
            .where(Section.dossier_id == dossier.id, Affectation.user_id == user.id)
        )
    )
    for section_id in section_ids:
        session.exec(
            delete(Affectation).where(
                col(Affectation.section_id) == section_id, col(Affectation.user_id) == user.id
            )
        )
        audit.record(
            session,
            "section.unassign",
            actor=actor,
            dossier_id=dossier.id,
            target=f"section:{section_id}",
            user_id=user.id,
        )


def take_referent_role(session: Session, dossier: Dossier, recipient: User, giver_id: int) -> None:
    """The recipient of a transfer becomes référent; the giver stays on as producteur."""
    giver = session.get(User, giver_id)
    join(session, dossier, recipient, Role.referent, actor=recipient)
    if giver is not None and role_of(session, dossier, giver) == Role.referent:
        membre = _membre(session, dossier, giver)
        if membre is not None:  # role_of just found it
            membre.role = Role.producteur
            session.add(membre)
        audit.record(
            session,
            "referent.transfer",
            actor=recipient,
            dossier_id=dossier.id,
            target=f"user:{recipient.id}",
            previous=giver.id,
        )
