"""What collab/ stores: an append-only log of Yjs updates per document, and checkpoints.

The log is the record of who wrote what: each row is attributed to the authenticated account
and the connection that sent it. A checkpoint holds the full encoded state up to a log row, so
loading replays only the tail.
"""

from datetime import datetime

from sqlalchemy import JSON, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class DocUpdate(SQLModel, table=True):
    __tablename__ = "doc_update"
    __table_args__ = (Index("ix_doc_update_doc_id", "doc_name", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    doc_name: str
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    connection_id: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # History (app/services/history.py). A squashed row holds several consecutive edits of one
    # person within one minute: `edits` counts them, `created_at`..`last_at` spans them.
    edits: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    last_at: datetime | None = None
    # Characters added and removed, and the question keys touched; None until analysed.
    added: int | None = None
    removed: int | None = None
    keys: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class DocCheckpoint(SQLModel, table=True):
    __tablename__ = "doc_checkpoint"
    __table_args__ = (Index("ix_doc_checkpoint_doc_upto", "doc_name", "upto_update_id"),)
    id: int | None = Field(default=None, primary_key=True)
    doc_name: str
    upto_update_id: int = Field(description="Last doc_update.id included in `data`")
    created_at: datetime = Field(default_factory=utcnow)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Version(SQLModel, table=True):
    """A named version of a dossier: where each of its sections' logs stood at that moment.

    Made automatically at submission and at each section status change, or by the référent
    (« enregistrer une version »). Nothing is copied: a version points into the update log.
    """

    __tablename__ = "version"
    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True)
    label: str
    kind: str = Field(description="manuelle, statut or depot")
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, index=True)


class VersionSection(SQLModel, table=True):
    __tablename__ = "version_section"
    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="version.id", index=True)
    section_id: int = Field(foreign_key="section.id", index=True)
    upto_update_id: int = Field(description="Last doc_update.id of the section in the version")
