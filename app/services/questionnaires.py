"""Importing a campagne's questionnaire file, and reading questionnaires back.

An import validates the whole file first (`questionnaire_schema.parse`), then writes the
campagne, its enjeux and one questionnaire revision per variant in the caller's transaction:
either all of it lands or none. Importing the same content again changes nothing; changed
content becomes a new revision (dossiers keep the revision they were created with).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from app.models import Campagne, Enjeu, Question, Questionnaire, Theme, User, Variante
from app.services import audit
from app.services.questionnaire_schema import parse

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "campagne-2027.yaml"


@dataclass(frozen=True)
class ImportResult:
    campagne: Campagne
    created: list[Questionnaire]  # new revisions; empty when the content was already imported

    def summary(self) -> str:
        if not self.created:
            return f"Campagne {self.campagne.annee} : questionnaire déjà à jour, rien d'importé."
        parts = ", ".join(f"{q.variante} (révision {q.revision})" for q in self.created)
        return f"Campagne {self.campagne.annee} : importé {parts}."


def import_file(session: Session, path: Path, actor: User | None = None) -> ImportResult:
    return import_text(session, path.read_text(encoding="utf-8"), path.name, actor)


def import_text(
    session: Session, text: str, source: str, actor: User | None = None
) -> ImportResult:
    data = parse(text, source)
    digest = hashlib.sha256(text.encode()).hexdigest()
    campagne = _upsert_campagne(session, data["campagne"])
    _upsert_enjeux(session, campagne, data.get("enjeux", []))
    created = []
    for variante in Variante:
        latest = _latest(session, campagne.id, variante)  # type: ignore[arg-type]
        if latest is not None and latest.content_hash == digest:
            continue
        created.append(
            _write_revision(session, campagne, variante, data["themes"], digest, source, latest)
        )
    if created:
        audit.record(
            session,
            "campagne.import",
            actor=actor,
            target=f"campagne:{campagne.id}",
            source=source,
            revisions={q.variante: q.revision for q in created},
        )
    return ImportResult(campagne, created)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _upsert_campagne(session: Session, spec: dict[str, Any]) -> Campagne:
    campagne = session.exec(select(Campagne).where(Campagne.annee == spec["annee"])).first()
    if campagne is None:
        campagne = Campagne(annee=spec["annee"], titre="", ouverture=date.min, date_limite=date.min)
    campagne.titre = spec["titre"]
    campagne.ouverture = _as_date(spec["ouverture"])
    campagne.date_limite = _as_date(spec["date_limite"])
    session.add(campagne)
    session.flush()
    return campagne


def _upsert_enjeux(session: Session, campagne: Campagne, specs: list[dict[str, Any]]) -> None:
    existing = {
        e.cle: e for e in session.exec(select(Enjeu).where(Enjeu.campagne_id == campagne.id))
    }
    for spec in specs:
        enjeu = existing.get(spec["cle"]) or Enjeu(
            campagne_id=campagne.id,  # type: ignore[arg-type]
            cle=spec["cle"],
            axe="",
            libelle="",
        )
        enjeu.axe, enjeu.libelle = spec["axe"], spec["libelle"]
        session.add(enjeu)


def _latest(session: Session, campagne_id: int, variante: str) -> Questionnaire | None:
    return session.exec(
        select(Questionnaire)
        .where(Questionnaire.campagne_id == campagne_id, Questionnaire.variante == variante)
        .order_by(col(Questionnaire.revision).desc())
    ).first()


def _write_revision(
    session: Session,
    campagne: Campagne,
    variante: Variante,
    themes: list[dict[str, Any]],
    digest: str,
    source: str,
    latest: Questionnaire | None,
) -> Questionnaire:
    questionnaire = Questionnaire(
        campagne_id=campagne.id,  # type: ignore[arg-type]
        variante=variante,
        revision=(latest.revision + 1) if latest else 1,
        content_hash=digest,
        source=source,
    )
    session.add(questionnaire)
    session.flush()
    ordre = 0
    for spec in themes:
        questions = [q for q in spec["questions"] if variante in q.get("variantes", list(Variante))]
        if not questions:
            continue
        ordre += 1
        theme = Theme(
            questionnaire_id=questionnaire.id,  # type: ignore[arg-type]
            cle=spec["cle"],
            ordre=ordre,
            titre=spec["titre"],
            description=spec.get("description", ""),
        )
        session.add(theme)
        session.flush()
        for index, q in enumerate(questions, start=1):
            session.add(_question(theme, index, q, variante))
    session.flush()
    return questionnaire


def _question(theme: Theme, ordre: int, q: dict[str, Any], variante: Variante) -> Question:
    override = q.get("surcharges", {}).get(variante, {})
    return Question(
        theme_id=theme.id,  # type: ignore[arg-type]
        cle=q["cle"],
        ordre=ordre,
        type=q["type"],
        libelle=override.get("libelle", q["libelle"]),
        aide=override.get("aide", q.get("aide", "")),
        obligatoire=override.get("obligatoire", q.get("obligatoire", False)),
        unite=q.get("unite"),
        cible=q.get("cible"),
        max_longueur=q.get("max_longueur"),
        min_actions=q.get("min"),
        choix=q.get("choix", []),
        formats=q.get("formats", []),
        enjeux=q.get("enjeux", []),
    )


def latest_questionnaire(session: Session, campagne: Campagne, variante: str) -> Questionnaire:
    found = _latest(session, campagne.id, variante)  # type: ignore[arg-type]
    if found is None:
        raise LookupError(f"campagne {campagne.annee} has no questionnaire for {variante}")
    return found


def themes_with_questions(
    session: Session, questionnaire_id: int
) -> list[tuple[Theme, list[Question]]]:
    themes = session.exec(
        select(Theme).where(Theme.questionnaire_id == questionnaire_id).order_by(col(Theme.ordre))
    ).all()
    questions = session.exec(
        select(Question)
        .where(col(Question.theme_id).in_([t.id for t in themes]))
        .order_by(col(Question.theme_id), col(Question.ordre))
    ).all()
    by_theme: dict[int, list[Question]] = {}
    for question in questions:
        by_theme.setdefault(question.theme_id, []).append(question)
    return [(t, by_theme.get(t.id, [])) for t in themes]  # type: ignore[arg-type]
