"""Accounts, their login sessions, and their roles in dossiers."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models._base import utcnow


class Role(StrEnum):
    """A person's role in one dossier (platform roles are flags on `User`)."""

    referent = "referent"
    producteur = "producteur"
    relecteur = "relecteur"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, description="Always stored lower-cased.")
    name: str
    password_hash: str | None = Field(default=None, description="argon2; None for OIDC-only")
    is_admin: bool = False
    is_jury: bool = False
    is_active: bool = Field(default=True, description="False: disabled by an admin")
    oidc_issuer: str | None = None
    oidc_subject: str | None = Field(default=None, index=True, description="ProConnect `uid`/sub")
    siret: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # Notifications by mail: "immediat" (each one at once) or "quotidien" (one digest a day).
    notification_mode: str = Field(
        default="immediat", sa_column_kwargs={"server_default": "immediat"}
    )
    digest_sent_at: datetime | None = None


class UserSession(SQLModel, table=True):
    """A server-side login session; the cookie holds a token whose sha256 is the id."""

    __tablename__ = "user_session"
    id: str = Field(primary_key=True, description="sha256 hex of the cookie token")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    user_agent: str = ""
    oidc_id_token: str | None = Field(
        default=None, description="Kept for `id_token_hint` at logout; None for password logins"
    )


class Membre(SQLModel, table=True):
    """A person's role in a dossier. Removal ends access but keeps the row (attribution)."""

    __table_args__ = (UniqueConstraint("dossier_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    dossier_id: int = Field(foreign_key="dossier.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True)
    role: str
    created_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None
