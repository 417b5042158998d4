"""Submissions (« dépôts ») of a dossier and the deadline reminders already sent."""

from datetime import datetime

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class Depot(SQLModel, table=True):
    """One submission: the frozen version it points to, its signed digest and its receipt.

    A dossier sent back for correction and submitted again has several.
    """

    __tablename__ = "depot"
    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True)
    version_id: int | None = Field(default=None, foreign_key="version.id")
    submitted_by: int = Field(foreign_key="user.id")
    submitted_at: datetime = Field(default_factory=utcnow)
    digest: str = Field(description="SHA-256 of the canonical JSON of every answer")
    signature: str = Field(description="HMAC-SHA256 of the digest with the server's secret")
    receipt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class DeadlineNotice(SQLModel, table=True):
    """A reminder of the campagne deadline sent for one dossier (so it is sent once)."""

    __tablename__ = "deadline_notice"
    __table_args__ = (UniqueConstraint("dossier_id", "days_before"),)
    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True)
    days_before: int
    sent_at: datetime = Field(default_factory=utcnow)
