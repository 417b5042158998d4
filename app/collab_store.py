"""collab/'s Store and Gate, implemented by the application on SQL and the policy."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from http.cookies import SimpleCookie

import anyio
from sqlalchemy import bindparam, func, insert, text
from sqlalchemy import select as sql_select  # sqlmodel's select takes at most 4 entities
from sqlmodel import col, select

from app import policy
from app.auth import sessions
from app.db import Database
from app.models import (
    Affectation,
    DocCheckpoint,
    DocUpdate,
    Dossier,
    Membre,
    Role,
    Section,
    User,
    UserSession,
)
from app.models._base import utcnow
from app.policy import Action
from app.services import documents, workflow
from app.settings import Settings
from collab.manager import new_doc
from collab.room import Peer, Permission, Stored
from collab.store import Loaded

log = logging.getLogger("arobase.collab")

# Presence colours: distinct, and dark enough for white text (WCAG AA on the name labels).
PALETTE = ("#1f5fa8", "#a3362b", "#2b7a3d", "#7a3fa0", "#a35a00", "#0f6f78", "#8a2d6b", "#4a5a12")


_UPDATES = DocUpdate.__table__  # type: ignore[attr-defined]
_APPEND = insert(_UPDATES).returning(_UPDATES.c.id, sort_by_parameter_order=True)
_CHECKPOINT = insert(DocCheckpoint.__table__)  # type: ignore[attr-defined]
_SQLITE_APPEND = (
    "INSERT INTO doc_update (doc_name, user_id, connection_id, created_at, data)"
    " VALUES (?, ?, ?, ?, ?)"
)


class SqlStore:
    def __init__(self, database: Database, *, settle: float = 10.0) -> None:
        self.database = database
        # PostgreSQL hands out ids before commit: a row may become visible after one with a
        # higher id. A checkpoint only covers rows older than `settle` seconds, long after any
        # transaction that took a smaller id has committed.
        self.settle = settle
        # Sections whose status this process already moved off « à rédiger » (or found moved).
        self._started: set[str] = set()
        dialect = database.engine.dialect
        self._on_sqlite = dialect.name == "sqlite"
        # The group commit on SQLite goes to the driver itself (see `_append_sqlite`); the time
        # is stored exactly as SQLAlchemy stores it, so every other reader sees the same rows.
        self._stamp = _UPDATES.c.created_at.type.bind_processor(dialect) or (lambda value: value)

    def load(self, doc_name: str) -> Loaded:
        with self.database.session() as session:
            return Loaded(*documents.stored_updates(session, doc_name))

    def append(self, entries: list[Stored]) -> list[int]:
        ids = self._append_sqlite(entries) if self._on_sqlite else self._append_core(entries)
        self._mark_started(entries)
        return ids

    def _append_core(self, entries: list[Stored]) -> list[int]:
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
        with self.database.engine.begin() as connection:
            return [int(row_id) for (row_id,) in connection.execute(_APPEND, rows)]

    def _append_sqlite(self, entries: list[Stored]) -> list[int]:
        """One INSERT for the whole group on the pooled driver connection, in one transaction.

        Measured: SQLAlchemy's executemany with RETURNING cost twice the CPU of the write
        itself, and this runs every 50 ms while anyone types. SQLite has a single writer: the
        transaction holds the write lock from its first row, so its rows take consecutive ids
        ending at the last one inserted.
        """
        stamp = self._stamp(utcnow())
        rows = [(e.doc_name, e.user_id, e.connection_id, stamp, e.data) for e in entries]
        connection = self.database.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.executemany(_SQLITE_APPEND, rows)
                (last,) = cursor.execute("SELECT last_insert_rowid()").fetchone()
            finally:
                cursor.close()
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool
        return list(range(last - len(rows) + 1, last + 1))

    def _mark_started(self, entries: list[Stored]) -> None:
        """Move each section's status to « en cours » at its first saved edit: one statement per
        section and process lifetime, after the commit and never undoing it (a failure here only
        leaves the status for the next process; the edits are stored and acknowledged)."""
        first: dict[str, int] = {}
        for entry in entries:
            if entry.doc_name not in self._started:
                first.setdefault(entry.doc_name, entry.user_id)
        sections = []
        for doc_name, user_id in first.items():
            self._started.add(doc_name)
            prefix, _, number = doc_name.partition("-")
            if prefix == "section" and number.isdigit():
                sections.append((int(number), user_id))
        if not sections:
            return
        try:  # one transaction for all the sections this commit starts: a burst of first edits
            with self.database.session() as session:  # (a campaign's opening) is one write
                for section_id, user_id in sections:
                    workflow.mark_started(session, section_id, user_id)
        except Exception:  # bookkeeping after a commit: must not fail the group commit
            log.warning("could not mark sections %s as started", sections, exc_info=True)

    def checkpoint(self, doc_name: str, state: bytes, upto_id: int) -> None:
        """Store the state up to row `upto_id`. On PostgreSQL several processes write the log,
        and one process's document may lack another's latest rows: there the checkpoint is
        rebuilt from the log itself, by one process at a time (an advisory lock per document,
        also taken by the history's squashing), up to a row old enough to be settled."""
        if self.database.engine.dialect.name == "postgresql":
            self._checkpoint_from_log(doc_name, upto_id)
            return
        row = {"doc_name": doc_name, "upto_update_id": upto_id, "data": state}
        with self.database.engine.begin() as connection:
            connection.execute(_CHECKPOINT, {**row, "created_at": utcnow()})

    def _checkpoint_from_log(self, doc_name: str, upto_id: int) -> None:
        with self.database.session() as session:
            locked = session.execute(
                text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"), {"name": doc_name}
            ).scalar()
            if not locked:
                return  # another process is at it: one checkpoint is enough
            settled = session.execute(
                sql_select(func.max(DocUpdate.id)).where(
                    col(DocUpdate.doc_name) == doc_name,
                    col(DocUpdate.id) <= upto_id,
                    col(DocUpdate.created_at) <= utcnow() - timedelta(seconds=self.settle),
                )
            ).scalar()
            if not settled:
                return
            doc = new_doc()
            for update in documents.stored_updates(session, doc_name)[0]:
                doc.apply_update(update)
            session.add(
                DocCheckpoint(doc_name=doc_name, upto_update_id=settled, data=doc.get_update())
            )

    def count(self, doc_name: str) -> int:
        with self.database.session() as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(DocUpdate)
                    .where(DocUpdate.doc_name == doc_name)
                ).one()
            )


Admission = tuple[Peer | None, Permission]

# What a join needs to know, in one read: the session, the account, the section, the dossier's
# state, the membership and the ownership. Bare columns and a statement built once: this runs
# for every websocket join, and building the statement cost more than running it.
_JOIN_QUERY = (
    sql_select(
        col(UserSession.revoked_at),
        col(UserSession.expires_at),
        col(UserSession.last_seen_at),
        col(User.id),
        col(User.name),
        col(User.is_active),
        col(User.is_admin),
        col(User.is_jury),
        col(Section.statut),
        col(Dossier.etat),
        col(Membre.role),
        col(Affectation.id),
    )
    .join(User, col(User.id) == UserSession.user_id)
    .join(Section, col(Section.id) == bindparam("section_id"))
    .join(Dossier, col(Dossier.id) == Section.dossier_id)
    .outerjoin(
        Membre,
        (col(Membre.dossier_id) == Dossier.id)
        & (col(Membre.user_id) == User.id)
        & col(Membre.removed_at).is_(None),
    )
    .outerjoin(
        Affectation,
        (col(Affectation.section_id) == Section.id) & (col(Affectation.user_id) == User.id),
    )
    .where(col(UserSession.id) == bindparam("session_id"))
)
ADMISSION_TTL = 10.0  # seconds a join decision is reused; any rights change forgets them all


class SessionGate:
    """Authenticates a handshake by its session cookie and asks the policy about the section.

    Decisions are remembered briefly per (session, document), and identical lookups in flight
    are shared: a page reload or a reconnect storm costs one query per person and section, not
    one per socket. `forget()` drops them all; the application calls it before re-checking
    open connections after any change of rights, so a remembered decision is never staler than
    the connections already open.
    """

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self._admitted: dict[tuple[str, str], tuple[float, Admission]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[Admission]] = {}

    def forget(self) -> None:
        self._admitted.clear()

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
        key = (sessions.digest(morsel.value), doc_name)
        now = time.monotonic()
        remembered = self._admitted.get(key)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            admission = await anyio.to_thread.run_sync(self._decide, *key)
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[key]
        pending.set_result(admission)
        if admission[0] is not None:
            if len(self._admitted) > 10_000:  # bound the memory: drop what has expired
                self._admitted = {k: v for k, v in self._admitted.items() if v[0] > now}
            self._admitted[key] = (now + ADMISSION_TTL, admission)
        return admission

    async def permission(self, peer: Peer, doc_name: str) -> Permission:
        _, permission = await anyio.to_thread.run_sync(self._decide, peer.session_id, doc_name)
        return permission

    def _decide(self, session_id: str, doc_name: str) -> Admission:
        """One read-only query for the session, the account, the section, the dossier's state,
        the membership and the ownership; the policy decides from those facts.

        Read-only on purpose: a handshake does not refresh the session's last activity, so joins
        never wait for the writer lock that the group commit holds.
        """
        section_id = int(doc_name.removeprefix("section-"))
        with self.database.engine.connect() as connection:
            row = connection.execute(
                _JOIN_QUERY, {"section_id": section_id, "session_id": session_id}
            ).first()
        if row is None:  # no such session, or no such section
            with self.database.session() as session:
                found = sessions.live_user(session, self.settings, session_id)
            return (self._peer(found, session_id) if found else None), Permission.NONE
        revoked, expires, seen, user_id, name, active, admin, jury, statut, state, role, owned = row
        if not active or not sessions.alive(revoked, expires, seen, self.settings):
            return None, Permission.NONE
        user = User.model_construct(
            id=user_id, name=name, is_active=active, is_admin=admin, is_jury=jury
        )
        facts = policy.Facts(
            user=user,
            dossier_state=state,
            role=Role(role) if role else None,
            owns_section=owned is not None,
            section_status=statut,
        )
        if policy.can(facts, Action.SECTION_WRITE):
            permission = Permission.WRITE
        elif policy.can(facts, Action.SECTION_READ):
            permission = Permission.READ
        else:
            permission = Permission.NONE
        return self._peer(user, session_id), permission

    @staticmethod
    def _peer(user: User, session_id: str) -> Peer:
        user_id = user.id or 0
        return Peer(user_id, user.name, PALETTE[user_id % len(PALETTE)], session_id)
