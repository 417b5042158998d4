"""What collab/ stores: an append-only log of Yjs updates per document, and checkpoints.

The log is the record of who wrote what: each row is attributed to the authenticated account
and the connection that sent it. A checkpoint holds the full encoded state up to a log row, so
loading replays only the tail.
"""

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary
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


class DocCheckpoint(SQLModel, table=True):
    __tablename__ = "doc_checkpoint"
    __table_args__ = (Index("ix_doc_checkpoint_doc_upto", "doc_name", "upto_update_id"),)
    id: int | None = Field(default=None, primary_key=True)
    doc_name: str
    upto_update_id: int = Field(description="Last doc_update.id included in `data`")
    created_at: datetime = Field(default_factory=utcnow)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
