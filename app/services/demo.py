"""Demo data: a commune's dossier with people in every role and some answers. Idempotent.

Running it again changes nothing but the demo accounts' password (to the one given), so
`make run` can call it every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

from app.auth import passwords
from app.models import (
    Affectation,
    Campagne,
    Collectivite,
    CollectiviteKind,
    Dossier,
    DossierState,
    Question,
    Role,
    Section,
    SectionStatus,
    Theme,
    User,
)
from app.services import accounts, answers, documents, dossier_setup, members, questionnaires
from app.services.dossiers import members as dossier_members
from app.services.dossiers import owners_by_section, section_list
from app.templating import PARIS
from collab.manager import new_doc

DEFAULT_PASSWORD = "arobase-demo"  # noqa: S105 - the demo's documented password
ANSWERS_FILE = Path(__file__).resolve().parent.parent / "data" / "demo-reponses.yaml"

PEOPLE = [
    # (e-mail, name, role in the dossier or None, admin)
    ("referente@exemple.fr", "Claire Dubois", Role.referent, False),
    ("producteur1@exemple.fr", "Karim Benali", Role.producteur, False),
    ("producteur2@exemple.fr", "Sophie Lefèvre", Role.producteur, False),
    ("relecteur@exemple.fr", "Marc Rousseau", Role.relecteur, False),
    ("admin@exemple.fr", "Équipe Villes Internet", None, True),
]
COMMUNE = {"nom": "Saint-Aubin-sur-Loire", "code_insee": "49999", "population": 8412}


@dataclass
class DemoIds:
    dossier: int
    users: dict[str, int]
    sections: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"dossier": self.dossier, "users": self.users, "sections": self.sections}


DEMO_MARGIN_DAYS = 60


def load(session: Session, password: str = DEFAULT_PASSWORD) -> DemoIds:
    result = questionnaires.import_file(session, questionnaires.SHIPPED)
    campagne = result.campagne
    _keep_open(session, campagne)
    users = {
        email: _user(session, email, name, password, admin) for email, name, _, admin in PEOPLE
    }
    dossier = _dossier(session, campagne)
    sections = section_list(session, dossier)
    if not _has_members(session, dossier):
        _staff(session, dossier, users, sections)
        _fill(session, sections, users)
    return _ids(session, dossier, users, sections)


def _keep_open(session: Session, campagne: Campagne) -> None:
    """A demonstration stays open: once the shipped campagne's real deadline has passed, the
    demo pushes it two months ahead (the server locks drafts past their deadline), and turns a
    demo dossier locked meanwhile back into a draft."""
    today = datetime.now(PARIS).date()
    if campagne.date_limite >= today + timedelta(days=DEMO_MARGIN_DAYS // 2):
        return
    campagne.date_limite = today + timedelta(days=DEMO_MARGIN_DAYS)
    session.add(campagne)
    for dossier in session.exec(
        select(Dossier).where(
            Dossier.campagne_id == campagne.id, Dossier.etat == DossierState.verrouille
        )
    ):
        dossier.etat = DossierState.brouillon
        session.add(dossier)
    session.flush()


def _user(session: Session, email: str, name: str, password: str, admin: bool) -> User:
    user = accounts.by_email(session, email)
    if user is None:
        return accounts.create_user(session, email, name, password, is_admin=admin)
    if not passwords.verify_password(user.password_hash, password):
        user.password_hash = passwords.hash_password(password)
        session.add(user)
    return user


def _dossier(session: Session, campagne: Campagne) -> Dossier:
    commune = session.exec(
        select(Collectivite).where(Collectivite.code_insee == COMMUNE["code_insee"])
    ).first()
    if commune is None:
        commune = Collectivite(kind=CollectiviteKind.commune, **COMMUNE)  # type: ignore[arg-type]
        session.add(commune)
        session.flush()
    dossier = session.exec(
        select(Dossier).where(
            Dossier.collectivite_id == commune.id, Dossier.campagne_id == campagne.id
        )
    ).first()
    return dossier or dossier_setup.create_dossier(session, commune, campagne)


def _has_members(session: Session, dossier: Dossier) -> bool:
    return bool(dossier_members(session, dossier.id))  # type: ignore[arg-type]


def _staff(
    session: Session,
    dossier: Dossier,
    users: dict[str, User],
    sections: list[tuple[Section, Theme]],
) -> None:
    referente = users["referente@exemple.fr"]
    for email, _, role, _ in PEOPLE:
        if role is not None:
            members.join(session, dossier, users[email], role, actor=referente)
    p1, p2 = users["producteur1@exemple.fr"], users["producteur2@exemple.fr"]
    # Karim writes the first four thèmes, Sophie the next four; the fourth is shared by both.
    for index, (section, _) in enumerate(sections[:8]):
        for owner in [p1] if index < 3 else [p1, p2] if index == 3 else [p2]:
            members.add_owner(session, section, owner, actor=referente)


def _fill(session: Session, sections: list[tuple[Section, Theme]], users: dict[str, User]) -> None:
    spec = yaml.safe_load(ANSWERS_FILE.read_text(encoding="utf-8"))["reponses"]
    owners = _owner_ids(session, [s.id for s, _ in sections])  # type: ignore[misc]
    for index, (section, theme) in enumerate(sections):
        questions = {
            q.cle: q for q in session.exec(select(Question).where(Question.theme_id == theme.id))
        }
        values = {key: value for key, value in spec.items() if key in questions}
        if not values or documents.has_updates(session, section.doc_name):
            continue
        doc = new_doc()
        answers.write(doc, questions, values)
        author = owners.get(section.id) or users["referente@exemple.fr"].id  # type: ignore[arg-type]
        documents.append_update(session, section.doc_name, doc.get_update(), author, "demo")
        section.statut = SectionStatus.a_relire if index == 1 else SectionStatus.en_cours
        session.add(section)


def _owner_ids(session: Session, section_ids: list[int]) -> dict[int, int]:
    rows = session.exec(
        select(Affectation.section_id, Affectation.user_id)
        .where(col(Affectation.section_id).in_(section_ids))
        .order_by(col(Affectation.id))
    )
    owners: dict[int, int] = {}
    for section_id, user_id in rows:
        owners.setdefault(section_id, user_id)
    return owners


def _ids(
    session: Session,
    dossier: Dossier,
    users: dict[str, User],
    sections: list[tuple[Section, Theme]],
) -> DemoIds:
    owners = owners_by_section(session, [s.id for s, _ in sections])  # type: ignore[misc]
    return DemoIds(
        dossier=dossier.id,  # type: ignore[arg-type]
        users={email: user.id for email, user in users.items()},  # type: ignore[misc]
        sections=[
            {
                "id": section.id,
                "theme": theme.cle,
                "titre": theme.titre,
                "owners": [u.email for u in owners.get(section.id, [])],  # type: ignore[arg-type]
            }
            for section, theme in sections
        ],
    )
