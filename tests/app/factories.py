"""Factories for tests: a campagne from the mini questionnaire, people, dossiers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from app.models import Collectivite, CollectiviteKind, Dossier, Question, Role, Section, User
from app.services import accounts, answers, documents, dossier_setup, members, questionnaires

MINI = Path(__file__).parent / "data" / "mini.yaml"
PASSWORD = "correct horse battery"


def user(session: Session, email: str, name: str = "", **kwargs: Any) -> User:
    return accounts.create_user(session, email, name or email.split("@")[0], PASSWORD, **kwargs)


@dataclass
class World:
    dossier: Dossier
    sections: list[Section]
    referent: User
    producteur: User
    relecteur: User
    outsider: User
    admin: User


def world(session: Session, population: int = 8000) -> World:
    """A dossier of the mini questionnaire with one person in each role.

    The producteur owns the first section only.
    """
    campagne = questionnaires.import_file(session, MINI).campagne
    commune = Collectivite(
        nom="Testville", code_insee="99001", kind=CollectiviteKind.commune, population=population
    )
    session.add(commune)
    session.flush()
    dossier = dossier_setup.create_dossier(session, commune, campagne)
    people = {
        "referent": user(session, "ref@test.fr", "Rita Référente"),
        "producteur": user(session, "prod@test.fr", "Paul Producteur"),
        "relecteur": user(session, "rel@test.fr", "Rose Relectrice"),
        "outsider": user(session, "out@test.fr", "Olga Extérieure"),
        "admin": user(session, "admin@test.fr", "Adam Admin", is_admin=True),
    }
    for role in (Role.referent, Role.producteur, Role.relecteur):
        members.join(session, dossier, people[role.value], role)
    sections = list(
        session.exec(
            select(Section).where(Section.dossier_id == dossier.id).order_by(col(Section.id))
        )
    )
    members.add_owner(session, sections[0], people["producteur"], actor=None)
    return World(dossier=dossier, sections=sections, **people)


def answer(session: Session, section: Section, author: User, values: dict[str, Any]) -> None:
    questions = {
        q.cle: q
        for q in session.exec(select(Question).where(Question.theme_id == section.theme_id))
    }
    doc = documents.load(session, section.doc_name)
    before = doc.get_state()
    answers.write(doc, questions, values)
    documents.append_update(session, section.doc_name, doc.get_update(before), author.id)
