"""Server-side login sessions.

The cookie carries a random token; the database keeps only its sha256, so a leaked database
cannot be replayed as cookies. A session ends at logout, after `session_idle_timeout` without a
request, after `session_max_age` in any case, or when its account is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from app.models import User, UserSession
from app.models._base import utcnow
from app.settings import Settings

COOKIE_NAME = "arobase_session"
# Writing last_seen_at on every request would turn reads into writes; a minute is precise enough
# for an idle timeout counted in hours.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Authenticated:
    user: User
    session_id: str
    csrf_token: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(settings: Settings, session_id: str) -> str:
    return hmac.new(settings.secret_key.encode(), session_id.encode(), "sha256").hexdigest()


def open_session(
    session: Session,
    settings: Settings,
    user: User,
    user_agent: str = "",
    oidc_id_token: str | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            id=digest(token),
            user_id=user.id,  # type: ignore[arg-type]
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_max_age),
            user_agent=user_agent[:300],
            oidc_id_token=oidc_id_token,
        )
    )
    user.last_login_at = now
    session.add(user)
    return token


def still_valid(row: UserSession, settings: Settings) -> bool:
    """Not revoked, not past its maximum age, not idle for too long."""
    return alive(row.revoked_at, row.expires_at, row.last_seen_at, settings)


def alive(
    revoked_at: datetime | None, expires_at: datetime, last_seen_at: datetime, settings: Settings
) -> bool:
    """`still_valid` on the bare columns (for queries that load no ORM object)."""
    if revoked_at is not None:
        return False
    now = utcnow()
    return now < expires_at and now < last_seen_at + timedelta(
        seconds=settings.session_idle_timeout
    )


def live_user(session: Session, settings: Settings, session_id: str) -> User | None:
    """The account of a session that is still valid (not revoked, expired, idle or disabled)."""
    row = session.get(UserSession, session_id)
    if row is None or not still_valid(row, settings):
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


def resolve(session: Session, settings: Settings, token: str | None) -> Authenticated | None:
    if not token:
        return None
    user = live_user(session, settings, digest(token))
    row = session.get(UserSession, digest(token))
    if user is None or row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
        session.add(row)
    return Authenticated(user=user, session_id=row.id, csrf_token=csrf_token_for(settings, row.id))


def close(session: Session, token: str | None) -> UserSession | None:
    if not token:
        return None
    row = session.get(UserSession, digest(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


def close_all_for(session: Session, user_id: int) -> None:
    session.exec(
        update(UserSession)
        .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def live_sessions(session: Session, user_id: int) -> list[UserSession]:
    return list(
        session.exec(
            select(UserSession).where(
                UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None)
            )
        )
    )
