"""Collectivités, their dossiers, the sections of a dossier and who owns each section."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class CollectiviteKind(StrEnum):
    commune = "commune"
    intercommunalite = "intercommunalite"


class DossierState(StrEnum):
    brouillon = "brouillon"  # co-editing open
    depose = "depose"  # submitted: frozen
    en_instruction = "en_instruction"
    labellise = "labellise"
    verrouille = "verrouille"  # the campagne deadline passed before submission


class SectionStatus(StrEnum):
    a_rediger = "a_rediger"
    en_cours = "en_cours"
    a_relire = "a_relire"
    validee = "validee"


class Collectivite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    nom: str
    code_insee: str = Field(unique=True, description="INSEE code, or SIREN for an EPCI")
    kind: str
    population: int
    created_at: datetime = Field(default_factory=utcnow)


class Dossier(SQLModel, table=True):
    """The application of one collectivité to one campagne."""

    __table_args__ = (UniqueConstraint("collectivite_id", "campagne_id"),)
    id: int | None = Field(default=None, primary_key=True)
    collectivite_id: int = Field(foreign_key="collectivite.id", index=True)
    campagne_id: int = Field(foreign_key="campagne.id", index=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id")
    etat: str = Field(default=DossierState.brouillon)
    created_at: datetime = Field(default_factory=utcnow)
    depose_at: datetime | None = None


class Section(SQLModel, table=True):
    """A dossier's instance of one thème; its answers live in the Y document `section-{id}`."""

    __table_args__ = (UniqueConstraint("dossier_id", "theme_id"),)
    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True, ondelete="CASCADE")
    theme_id: int = Field(foreign_key="theme.id")
    statut: str = Field(default=SectionStatus.a_rediger)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def doc_name(self) -> str:
        return f"section-{self.id}"


class Affectation(SQLModel, table=True):
    """A producteur owns (may write) a section."""

    __table_args__ = (UniqueConstraint("section_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    section_id: int = Field(foreign_key="section.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
