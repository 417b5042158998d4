"""Invitations to a dossier (and offers of the référent role), password resets, and mail."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class InvitationKind(StrEnum):
    membre = "membre"  # join the dossier with a role
    transfert = "transfert"  # take over the référent role from the person who offers it


class InvitationStatus(StrEnum):
    pending = "en_attente"
    accepted = "acceptee"
    expired = "expiree"
    revoked = "revoquee"


class Invitation(SQLModel, table=True):
    """A single-use link; only the sha256 of its token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True, ondelete="CASCADE")
    kind: str = Field(default=InvitationKind.membre)
    email: str = Field(index=True, description="Lower-cased; only this account may redeem it")
    role: str
    section_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    message: str = ""
    token_hash: str = Field(unique=True)
    invited_by_id: int = Field(foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_sent_at: datetime = Field(default_factory=utcnow)
    send_count: int = 1
    accepted_at: datetime | None = None
    accepted_by_id: int | None = Field(default=None, foreign_key="user.id")
    revoked_at: datetime | None = None
    revoked_by_id: int | None = Field(default=None, foreign_key="user.id")

    def status(self, now: datetime) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.accepted
        if self.revoked_at is not None:
            return InvitationStatus.revoked
        if now >= self.expires_at:
            return InvitationStatus.expired
        return InvitationStatus.pending


class PasswordReset(SQLModel, table=True):
    __tablename__ = "password_reset"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class OutboxMail(SQLModel, table=True):
    """Every mail Arobase sends goes through here; without SMTP it stays here for admins."""

    __tablename__ = "outbox_mail"
    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(index=True)
    subject: str
    body: str
    kind: str = Field(default="", description="e.g. `invitation`, `affectation`")
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str = ""
    # One optional attachment (a submission receipt): name, MIME type, bytes.
    attachment_name: str = Field(default="", sa_column_kwargs={"server_default": ""})
    attachment_type: str = Field(default="", sa_column_kwargs={"server_default": ""})
    attachment: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
