"""Audit events: every change that is not a document edit, chained by hashes."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(index=True, description="`resource.verb`, e.g. `auth.login`")
    actor_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    dossier_id: int | None = Field(default=None, foreign_key="dossier.id", index=True)
    target: str = Field(default="", description="What it acted on, e.g. `section:12`")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(default="", description="hash of the previous event ('' for the first)")
    hash: str = Field(default="", description="sha256 over prev_hash and this event's content")
