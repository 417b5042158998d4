"""Writing audit events, reading them back, and verifying their chain.

Every service that changes something records an event here. Each event carries the hash of the
previous one, so that rewriting or deleting a past event is detectable (`verify`). Several
writers could read the same "previous" event at once; a PostgreSQL advisory lock serialises
them (SQLite serialises writers by itself).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, text
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from app.models import AuditEvent, Collectivite, Dossier, User
from app.services.answers import french_number

_CHAIN_LOCK = 0x4172_6F62  # "Arob": the advisory lock key of the audit chain
RIGHTS_CHANGED = "arobase.rights_changed"
# Events after which open editing connections are re-checked: memberships, assignments, roles,
# accounts, and the end of sessions (an export or a login changes nobody's rights).
_RIGHTS_CHANGING_RESOURCES = {"membre", "section", "referent", "invitation", "user"}
_RIGHTS_CHANGES = {"auth.logout", "password.reset", "dossier.state"}
_NOT_RIGHTS = {"section.restauration"}  # a content change: nobody's rights move
_CHUNK = 1000  # events read at a time by `verify` and the CSV export: memory stays bounded


def record(
    session: Session,
    kind: str,
    *,
    actor: User | None = None,
    actor_id: int | None = None,
    dossier_id: int | None = None,
    target: str = "",
    **data: Any,
) -> AuditEvent:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    previous = session.exec(
        select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)
    ).first()
    event = AuditEvent(
        kind=kind,
        actor_id=actor.id if actor else actor_id,
        dossier_id=dossier_id,
        target=target,
        data=data,
        prev_hash=previous or "",
    )
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    resource = kind.split(".", 1)[0]
    if kind in _RIGHTS_CHANGES or (
        resource in _RIGHTS_CHANGING_RESOURCES and kind not in _NOT_RIGHTS
    ):
        session.info[RIGHTS_CHANGED] = True  # open editing connections are re-checked
    return event


def event_hash(event: AuditEvent) -> str:
    content = json.dumps(
        {
            "prev": event.prev_hash,
            "at": event.created_at.isoformat(),
            "kind": event.kind,
            "actor": event.actor_id,
            "dossier": event.dossier_id,
            "target": event.target,
            "data": event.data,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(content.encode()).hexdigest()


# --- Verifying the chain ---------------------------------------------------------------------


class Break(StrEnum):
    CONTENT = "contenu modifié"
    LINK = "lien rompu"
    DELETED = "événement supprimé"


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: the chain holds, or the first event where it does not, and why."""

    checked: int  # events found sound (before the break, if any)
    last_hash: str = ""  # the head of an intact chain: keep copies elsewhere (see `verify`)
    broken_at: int | None = None
    breakage: Break | None = None
    detail: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None

    def summary(self) -> str:
        if self.broken_at is None:
            plural = "s" if self.checked > 1 else ""
            count = french_number(self.checked)
            return f"Chaîne intacte : {count} événement{plural} vérifié{plural}."
        return f"Chaîne rompue à l'événement n° {self.broken_at} : {self.detail}"


def verify(session: Session) -> ChainReport:
    """Walk the events in id order, recomputing each hash and checking each link.

    A rewritten event no longer matches its own hash; a rewritten *and re-hashed* one breaks the
    link of the next event; a deleted one leaves the next event pointing at nothing. Deleting the
    latest events leaves no trace in the chain itself: comparing `last_hash` with a copy taken
    earlier reveals it.
    """
    checked, previous = 0, None
    # A chunk at a time by increasing id (keyset pagination): memory stays bounded, and on
    # PostgreSQL events appended meanwhile are verified too.
    while batch := session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.id) > (previous.id if previous else 0))
        .order_by(col(AuditEvent.id))
        .limit(_CHUNK)
    ).all():
        for event in batch:
            flaw = _flaw(event, previous)
            if flaw is not None:
                return ChainReport(checked, broken_at=event.id, breakage=flaw[0], detail=flaw[1])
            checked, previous = checked + 1, event
    return ChainReport(checked, last_hash=previous.hash if previous else "")


def _flaw(event: AuditEvent, previous: AuditEvent | None) -> tuple[Break, str] | None:
    if event_hash(event) != event.hash:
        return Break.CONTENT, "son contenu a été modifié après son enregistrement."
    if event.prev_hash == (previous.hash if previous else ""):
        return None
    first_missing = (previous.id or 0) + 1 if previous else 1
    last_missing = (event.id or 0) - 1
    if last_missing == first_missing:
        return Break.DELETED, f"l'événement n° {first_missing}, qui le précédait, a été supprimé."
    if last_missing > first_missing:
        # PostgreSQL may skip ids (rolled-back transactions): the deleted ones are in the gap.
        return Break.DELETED, (
            f"des événements qui le précédaient (entre les n° {first_missing} et "
            f"{last_missing}) ont été supprimés."
        )
    if previous is None:
        return Break.LINK, "il ouvre la chaîne mais désigne un événement précédent."
    return Break.LINK, (
        f"il ne désigne plus l'événement n° {previous.id} comme son précédent : "
        "celui-ci a été réécrit."
    )


# --- Reading the journal ---------------------------------------------------------------------


@dataclass(frozen=True)
class JournalFilter:
    """Which events to read; every criterion given narrows the selection."""

    dossier_id: int | None = None
    actor_id: int | None = None
    kind: str = ""  # exact, or a prefix when it ends with a dot (`membre.`)
    since: datetime | None = None  # inclusive
    before: datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        found = []
        if self.dossier_id is not None:
            found.append(col(AuditEvent.dossier_id) == self.dossier_id)
        if self.actor_id is not None:
            found.append(col(AuditEvent.actor_id) == self.actor_id)
        if self.kind.endswith("."):
            # autoescape: a `_` or `%` in the filter matches itself, not any character.
            found.append(col(AuditEvent.kind).startswith(self.kind, autoescape=True))
        elif self.kind:
            found.append(col(AuditEvent.kind) == self.kind)
        if self.since is not None:
            found.append(col(AuditEvent.created_at) >= self.since)
        if self.before is not None:
            found.append(col(AuditEvent.created_at) < self.before)
        return found


@dataclass(frozen=True)
class JournalRow:
    event: AuditEvent
    actor_name: str | None
    actor_email: str | None
    collectivite: str | None

    @property
    def data_summary(self) -> str:
        """`key : value ; …`, long values cut short (the CSV export has them whole)."""
        parts = []
        for key, value in sorted(self.event.data.items()):
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            parts.append(f"{key} : {shown[:80] + '…' if len(shown) > 80 else shown}")
        return " ; ".join(parts)


@dataclass(frozen=True)
class JournalPage:
    rows: list[JournalRow]
    total: int
    page: int
    pages: int


_Row = tuple[AuditEvent, str | None, str | None, str | None]


def _rows(where: JournalFilter) -> Select[AuditEvent, str, str, str]:
    """The events `where` selects, with their actor's name and e-mail and their collectivité."""
    return (
        select(AuditEvent, User.name, User.email, Collectivite.nom)
        .outerjoin(User, col(User.id) == col(AuditEvent.actor_id))
        .outerjoin(Dossier, col(Dossier.id) == col(AuditEvent.dossier_id))
        .outerjoin(Collectivite, col(Collectivite.id) == col(Dossier.collectivite_id))
        .where(*where.conditions())
    )


def journal(session: Session, where: JournalFilter, page: int, per_page: int) -> JournalPage:
    """One page of the events `where` selects, newest first."""
    total = session.exec(
        select(func.count()).select_from(AuditEvent).where(*where.conditions())
    ).one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)
    found = session.exec(
        _rows(where)
        .order_by(col(AuditEvent.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return JournalPage([JournalRow(*row) for row in found], total, page, pages)


def kinds(session: Session) -> list[str]:
    """Every kind of event recorded so far, and their `resource.` prefixes."""
    found = session.exec(select(AuditEvent.kind).distinct()).all()
    return sorted({*found, *(k.split(".", 1)[0] + "." for k in found if "." in k)})


CSV_COLUMNS = (
    "id",
    "created_at",
    "kind",
    "actor_id",
    "actor_email",
    "dossier_id",
    "target",
    "data",
    "prev_hash",
    "hash",
)
# A spreadsheet runs a cell starting with one of these as a formula: quoted, an exported
# `target` such as `email:=HYPERLINK(…)` stays text (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def journal_csv(session: Session, where: JournalFilter, actor: User) -> str:
    """The events `where` selects as CSV, in chain order; the export itself is recorded."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for event, _name, email, _nom in _in_id_order(session, where):
        cells = [
            event.id,
            event.created_at.isoformat(),
            event.kind,
            event.actor_id,
            email,
            event.dossier_id,
            event.target,
            json.dumps(event.data, ensure_ascii=False, sort_keys=True),
            event.prev_hash,
            event.hash,
        ]
        writer.writerow([_safe_cell(c) for c in cells])
    record(session, "audit.export", actor=actor, target="audit", format="csv", **_described(where))
    return "\ufeff" + out.getvalue()  # a byte order mark, so spreadsheets read UTF-8 accents


def _in_id_order(session: Session, where: JournalFilter) -> Iterator[_Row]:
    """The rows of `_rows(where)` in chain order, a chunk at a time (as in `verify`)."""
    after = 0
    while batch := session.exec(
        _rows(where).where(col(AuditEvent.id) > after).order_by(col(AuditEvent.id)).limit(_CHUNK)
    ).all():
        yield from batch
        after = batch[-1][0].id or 0


def _safe_cell(value: object) -> str:
    shown = "" if value is None else str(value)
    return "'" + shown if shown.startswith(_FORMULA_START) else shown


def _described(where: JournalFilter) -> dict[str, Any]:
    """The criteria of `where` that were given, for the record of an export."""
    found = {
        "dossier": where.dossier_id,
        "personne": where.actor_id,
        "type": where.kind or None,
        "depuis": where.since.isoformat() if where.since else None,
        "avant": where.before.isoformat() if where.before else None,
    }
    return {k: v for k, v in found.items() if v is not None}
