"""Campagnes and their questionnaires: revisions per variant, thèmes, questions, enjeux.

The questionnaire is data (see `app/services/questionnaire_import.py`); these rows are what an
import wrote, never edited in place: a changed file becomes a new revision.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class Variante(StrEnum):
    village = "village"
    ville = "ville"
    territoire = "territoire"


class QuestionType(StrEnum):
    texte = "texte"  # rich text, a y-prosemirror XmlFragment in the section document
    texte_court = "texte_court"
    oui_non = "oui_non"
    indicateur = "indicateur"  # a number with a unit and an optional target
    choix_unique = "choix_unique"
    choix_multiple = "choix_multiple"
    date = "date"
    url = "url"
    piece_jointe = "piece_jointe"
    actions = "actions"  # references to the collectivité's Atlaas actions


class Campagne(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    annee: int = Field(unique=True, description="The label's year (it bears next year's number).")
    titre: str
    ouverture: date
    date_limite: date
    created_at: datetime = Field(default_factory=utcnow)


class Enjeu(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campagne_id", "cle"),)
    id: int | None = Field(default=None, primary_key=True)
    campagne_id: int = Field(foreign_key="campagne.id", index=True, ondelete="CASCADE")
    cle: str
    axe: str
    libelle: str


class Questionnaire(SQLModel, table=True):
    """One revision of the questionnaire of a campagne for one variant."""

    __table_args__ = (UniqueConstraint("campagne_id", "variante", "revision"),)
    id: int | None = Field(default=None, primary_key=True)
    campagne_id: int = Field(foreign_key="campagne.id", index=True, ondelete="CASCADE")
    variante: str
    revision: int
    content_hash: str = Field(description="sha256 of the imported file, to make imports idempotent")
    source: str = Field(description="Name of the file it was imported from.")
    imported_at: datetime = Field(default_factory=utcnow)


class Theme(SQLModel, table=True):
    """A thème of a questionnaire; each dossier has one section per thème."""

    __table_args__ = (UniqueConstraint("questionnaire_id", "cle"),)
    id: int | None = Field(default=None, primary_key=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id", index=True, ondelete="CASCADE")
    cle: str
    ordre: int
    titre: str
    description: str = ""


class Question(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("theme_id", "cle"),)
    id: int | None = Field(default=None, primary_key=True)
    theme_id: int = Field(foreign_key="theme.id", index=True, ondelete="CASCADE")
    cle: str = Field(description="Stable key; also the name of its shared type in the Y document.")
    ordre: int
    type: str
    libelle: str
    aide: str = ""
    obligatoire: bool = False
    unite: str | None = None
    cible: float | None = None
    max_longueur: int | None = None
    min_actions: int | None = None
    choix: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    formats: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enjeux: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    def choice_label(self, cle: Any) -> str:
        for choice in self.choix:
            if choice["cle"] == cle:
                return choice["libelle"]
        return str(cle)
