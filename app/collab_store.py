"""collab/'s Store and Gate, implemented by the application on SQL and the policy."""

from __future__ import annotations

from collections.abc import Mapping
from http.cookies import SimpleCookie

import anyio
from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from app import policy
from app.auth import sessions
from app.db import Database
from app.models import DocCheckpoint, DocUpdate, Section, User
from app.models._base import utcnow
from app.policy import Action
from app.services import dossiers
from app.settings import Settings
from collab.room import Peer, Permission, Stored
from collab.store import Loaded

# Presence colours: distinct, and dark enough for white text (WCAG AA on the name labels).
PALETTE = ("#1f5fa8", "#a3362b", "#2b7a3d", "#7a3fa0", "#a35a00", "#0f6f78", "#8a2d6b", "#4a5a12")


class SqlStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self, doc_name: str) -> Loaded:
        with self.database.session() as session:
            checkpoint = session.exec(
                select(DocCheckpoint)
                .where(DocCheckpoint.doc_name == doc_name)
                .order_by(col(DocCheckpoint.upto_update_id).desc())
            ).first()
            upto = checkpoint.upto_update_id if checkpoint else 0
            rows = session.exec(
                select(DocUpdate.id, DocUpdate.data)
                .where(DocUpdate.doc_name == doc_name, col(DocUpdate.id) > upto)
                .order_by(col(DocUpdate.id))
            ).all()
        updates = ([checkpoint.data] if checkpoint else []) + [data for _, data in rows]
        last = rows[-1][0] if rows else upto
        return Loaded(updates, int(last or 0), len(rows))

    def append(self, entries: list[Stored]) -> list[int]:
        # Core INSERT … RETURNING rather than ORM objects: this runs for every group commit.
        now = utcnow()
        rows = [
            {
                "doc_name": e.doc_name,
                "user_id": e.user_id,
                "connection_id": e.connection_id,
                "created_at": now,
                "data": e.data,
            }
            for e in entries
        ]
        table = DocUpdate.__table__  # type: ignore[attr-defined]
        with self.database.engine.begin() as connection:
            result = connection.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
            )
            return [int(row_id) for (row_id,) in result]

    def checkpoint(self, doc_name: str, state: bytes, upto_id: int) -> None:
        with self.database.session() as session:
            session.add(DocCheckpoint(doc_name=doc_name, upto_update_id=upto_id, data=state))

    def count(self, doc_name: str) -> int:
        with self.database.session() as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(DocUpdate)
                    .where(DocUpdate.doc_name == doc_name)
                ).one()
            )


class SessionGate:
    """Authenticates a handshake by its session cookie and asks the policy about the section."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database

    async def admit(
        self, headers: Mapping[str, str], doc_name: str
    ) -> tuple[Peer | None, Permission]:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed Cookie header is just no session
            return None, Permission.NONE
        morsel = cookie.get(sessions.COOKIE_NAME)
        if morsel is None:
            return None, Permission.NONE
        return await anyio.to_thread.run_sync(self._admit, morsel.value, doc_name)

    def _admit(self, token: str, doc_name: str) -> tuple[Peer | None, Permission]:
        # Read-only on purpose: a handshake does not refresh the session's last activity, so
        # joins never wait for the writer lock that the group commit holds.
        session_id = sessions.digest(token)
        with self.database.session() as session:
            user = sessions.live_user(session, self.settings, session_id)
            if user is None or user.id is None:
                return None, Permission.NONE
            peer = Peer(user.id, user.name, PALETTE[user.id % len(PALETTE)], session_id)
            return peer, self._rights(session, user, doc_name)

    async def permission(self, peer: Peer, doc_name: str) -> Permission:
        return await anyio.to_thread.run_sync(self._permission, peer, doc_name)

    def _permission(self, peer: Peer, doc_name: str) -> Permission:
        with self.database.session() as session:
            # A logged-out, expired or disabled session loses its connections too.
            user = sessions.live_user(session, self.settings, peer.session_id)
            if user is None:
                return Permission.NONE
            return self._rights(session, user, doc_name)

    @staticmethod
    def _rights(session: Session, user: User, doc_name: str) -> Permission:
        section_id = int(doc_name.removeprefix("section-"))
        section = session.get(Section, section_id)
        if section is None:
            return Permission.NONE
        ref = dossiers.ref(session, section.dossier_id)
        facts = policy.facts_for(session, user, ref.dossier, section)
        if policy.can(facts, Action.SECTION_WRITE):
            return Permission.WRITE
        if policy.can(facts, Action.SECTION_READ):
            return Permission.READ
        return Permission.NONE
