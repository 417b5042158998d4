"""Creating collectivités, dossiers with their sections, memberships and assignments."""

from __future__ import annotations

from sqlmodel import Session, select

from app.models import (
    Campagne,
    Collectivite,
    CollectiviteKind,
    Dossier,
    Section,
    Theme,
    User,
    Variante,
)
from app.services import audit
from app.services.questionnaires import latest_questionnaire

# Villes Internet's "villages" are the small communes; we draw the line at 3,500 inhabitants,
# the threshold French electoral law already uses for communes.
VILLAGE_MAX_POPULATION = 3500


def variante_for(collectivite: Collectivite) -> Variante:
    if collectivite.kind == CollectiviteKind.intercommunalite:
        return Variante.territoire
    return Variante.village if collectivite.population < VILLAGE_MAX_POPULATION else Variante.ville


def create_dossier(
    session: Session, collectivite: Collectivite, campagne: Campagne, actor: User | None = None
) -> Dossier:
    questionnaire = latest_questionnaire(session, campagne, variante_for(collectivite))
    dossier = Dossier(
        collectivite_id=collectivite.id,  # type: ignore[arg-type]
        campagne_id=campagne.id,  # type: ignore[arg-type]
        questionnaire_id=questionnaire.id,  # type: ignore[arg-type]
    )
    session.add(dossier)
    session.flush()
    for theme in session.exec(select(Theme).where(Theme.questionnaire_id == questionnaire.id)):
        session.add(Section(dossier_id=dossier.id, theme_id=theme.id))  # type: ignore[arg-type]
    session.flush()
    audit.record(
        session,
        "dossier.create",
        actor=actor,
        dossier_id=dossier.id,
        target=f"dossier:{dossier.id}",
    )
    return dossier
