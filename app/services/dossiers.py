"""Reading dossiers for pages and exports: who sees which, their sections, progress, answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from app.errors import NotFound
from app.models import (
    Affectation,
    Campagne,
    Collectivite,
    DocUpdate,
    Dossier,
    DossierState,
    Membre,
    Question,
    Section,
    Theme,
    Thread,
    User,
)
from app.services import answers, documents


@dataclass(frozen=True)
class DossierRef:
    dossier: Dossier
    collectivite: Collectivite
    campagne: Campagne

    @property
    def title(self) -> str:
        return f"{self.collectivite.nom} — {self.campagne.titre}"


@dataclass(frozen=True)
class SectionView:
    section: Section
    theme: Theme
    questions: list[Question]
    owners: list[User]
    answers: dict[str, answers.Answer]

    @property
    def answered(self) -> int:
        return sum(1 for a in self.answers.values() if not a.empty)

    @property
    def required_missing(self) -> list[Question]:
        return [q for q in self.questions if q.obligatoire and self.answers[q.cle].empty]


def ref(session: Session, dossier_id: int) -> DossierRef:
    dossier = session.get(Dossier, dossier_id)
    if dossier is None:
        raise NotFound()
    collectivite = session.get(Collectivite, dossier.collectivite_id)
    campagne = session.get(Campagne, dossier.campagne_id)
    if collectivite is None or campagne is None:  # only if foreign keys were bypassed
        raise NotFound()
    return DossierRef(dossier, collectivite, campagne)


def visible_to(session: Session, user: User) -> list[tuple[DossierRef, str | None]]:
    """The dossiers one sees on « Mes dossiers », with one's role in each (None: admin/jury)."""
    roles = {
        m.dossier_id: m.role
        for m in session.exec(
            select(Membre).where(Membre.user_id == user.id, col(Membre.removed_at).is_(None))
        )
    }
    query = select(Dossier).order_by(col(Dossier.id).desc())
    if not user.is_admin:
        submitted = [DossierState.depose, DossierState.en_instruction, DossierState.labellise]
        condition: ColumnElement[bool] = col(Dossier.id).in_(list(roles))
        if user.is_jury:
            condition = condition | col(Dossier.etat).in_(submitted)
        query = query.where(condition)
    return [(ref(session, d.id), roles.get(d.id)) for d in session.exec(query)]  # type: ignore[arg-type]


def section_of(session: Session, section_id: int) -> tuple[Section, DossierRef]:
    section = session.get(Section, section_id)
    if section is None:
        raise NotFound()
    return section, ref(session, section.dossier_id)


def owners_by_section(session: Session, section_ids: list[int]) -> dict[int, list[User]]:
    rows = session.exec(
        select(Affectation.section_id, User)
        .join(User, col(User.id) == Affectation.user_id)
        .where(col(Affectation.section_id).in_(section_ids))
        .order_by(col(User.name))
    )
    owners: dict[int, list[User]] = {}
    for section_id, user in rows:
        owners.setdefault(section_id, []).append(user)
    return owners


def section_views(
    session: Session, dossier: Dossier, only: int | None = None, *, with_answers: bool = True
) -> list[SectionView]:
    """The sections of a dossier with their questions, owners and (unless `with_answers` is
    False: pages about the section's history, which read past states) current answers."""
    query = (
        select(Section, Theme)
        .join(Theme, col(Theme.id) == Section.theme_id)
        .where(Section.dossier_id == dossier.id)
        .order_by(col(Theme.ordre))
    )
    if only is not None:
        query = query.where(Section.id == only)
    rows = list(session.exec(query))
    theme_ids = [theme.id for _, theme in rows]
    questions: dict[int, list[Question]] = {}
    for q in session.exec(
        select(Question).where(col(Question.theme_id).in_(theme_ids)).order_by(col(Question.ordre))
    ):
        questions.setdefault(q.theme_id, []).append(q)
    owners = owners_by_section(session, [s.id for s, _ in rows])  # type: ignore[misc]
    views = []
    for section, theme in rows:
        qs = questions.get(theme.id, [])  # type: ignore[arg-type]
        current = (
            answers.read(documents.load(session, section.doc_name), qs) if with_answers else {}
        )
        views.append(SectionView(section, theme, qs, owners.get(section.id, []), current))  # type: ignore[arg-type]
    return views


def section_view(session: Session, section: Section, *, with_answers: bool = True) -> SectionView:
    dossier = session.get(Dossier, section.dossier_id)
    if dossier is None:
        raise NotFound()
    return section_views(session, dossier, only=section.id, with_answers=with_answers)[0]


def members(session: Session, dossier_id: int) -> list[tuple[Membre, User]]:
    return list(
        session.exec(
            select(Membre, User)
            .join(User, col(User.id) == Membre.user_id)
            .where(Membre.dossier_id == dossier_id, col(Membre.removed_at).is_(None))
            .order_by(col(Membre.role), col(User.name))
        )
    )


def section_list(session: Session, dossier: Dossier) -> list[tuple[Section, Theme]]:
    """The sections of a dossier in questionnaire order, without their answers."""
    return list(
        session.exec(
            select(Section, Theme)
            .join(Theme, col(Theme.id) == Section.theme_id)
            .where(Section.dossier_id == dossier.id)
            .order_by(col(Theme.ordre))
        )
    )


@dataclass(frozen=True)
class Activity:
    last_edit: datetime | None  # the section's latest stored edit
    open_threads: int  # comment threads neither resolved nor deleted


def activity(session: Session, sections: list[Section]) -> dict[int, Activity]:
    """Per section: when it was last edited and how many discussions are open (two queries)."""
    by_doc = {s.doc_name: s.id for s in sections}
    last = dict(
        session.exec(
            select(
                DocUpdate.doc_name, func.max(func.coalesce(DocUpdate.last_at, DocUpdate.created_at))
            )
            .where(col(DocUpdate.doc_name).in_(list(by_doc)))
            .group_by(col(DocUpdate.doc_name))
        ).all()
    )
    threads = dict(
        session.exec(
            select(Thread.section_id, func.count())
            .where(
                col(Thread.section_id).in_([s.id for s in sections]),
                col(Thread.resolved_at).is_(None),
                col(Thread.deleted_at).is_(None),
            )
            .group_by(col(Thread.section_id))
        ).all()
    )
    return {
        s.id or 0: Activity(last.get(s.doc_name), int(threads.get(s.id or 0, 0))) for s in sections
    }
