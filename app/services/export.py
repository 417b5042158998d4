"""The JSON export of a dossier: everything a reader needs, without the application."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.models import QuestionType, User
from app.models._base import utcnow
from app.services import audit, dossiers

EXPORT_FORMAT = "arobase-dossier/1"


def dossier_json(session: Session, dossier_id: int, actor: User | None = None) -> dict[str, Any]:
    ref = dossiers.ref(session, dossier_id)
    d, c, k = ref.dossier, ref.collectivite, ref.campagne
    sections = []
    for view in dossiers.section_views(session, d):
        sections.append(
            {
                "id": view.section.id,
                "theme": view.theme.cle,
                "titre": view.theme.titre,
                "statut": view.section.statut,
                "proprietaires": [{"nom": u.name, "email": u.email} for u in view.owners],
                "questions": [_question(view.answers[q.cle]) for q in view.questions],
            }
        )
    audit.record(
        session,
        "dossier.export",
        actor=actor,
        dossier_id=d.id,
        target=f"dossier:{d.id}",
        format="json",
    )
    return {
        "format": EXPORT_FORMAT,
        "exporte_le": utcnow().isoformat(),
        "dossier": {
            "id": d.id,
            "etat": d.etat,
            "cree_le": d.created_at.isoformat(),
            "depose_le": d.depose_at.isoformat() if d.depose_at else None,
        },
        "collectivite": {
            "nom": c.nom,
            "code_insee": c.code_insee,
            "type": c.kind,
            "population": c.population,
        },
        "campagne": {
            "annee": k.annee,
            "titre": k.titre,
            "ouverture": k.ouverture.isoformat(),
            "date_limite": k.date_limite.isoformat(),
        },
        "sections": sections,
    }


def _question(answer: Any) -> dict[str, Any]:
    q = answer.question
    item: dict[str, Any] = {
        "cle": q.cle,
        "type": q.type,
        "libelle": q.libelle,
        "obligatoire": q.obligatoire,
        "reponse": answer.value if not answer.empty else None,
        "texte": answer.text,
    }
    if q.type == QuestionType.texte:
        item["html"] = str(answer.html)
    if q.unite:
        item["unite"] = q.unite
    return item
