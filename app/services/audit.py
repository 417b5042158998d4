"""Writing audit events. Every service that changes something records one here.

Each event carries the hash of the previous one, so that rewriting or deleting a past event is
detectable (`verify_chain`). Several writers could read the same "previous" event at once; a
PostgreSQL advisory lock serialises them (SQLite serialises writers by itself).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from app.models import AuditEvent, User

_CHAIN_LOCK = 0x4172_6F62  # "Arob": the advisory lock key of the audit chain
RIGHTS_CHANGED = "arobase.rights_changed"
# Events after which open editing connections are re-checked: memberships, assignments, roles,
# accounts, and the end of sessions (an export or a login changes nobody's rights).
_RIGHTS_CHANGING_RESOURCES = {"membre", "section", "referent", "invitation", "user"}
_RIGHTS_CHANGES = {"auth.logout", "password.reset", "dossier.state"}


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
    if kind in _RIGHTS_CHANGES or kind.split(".", 1)[0] in _RIGHTS_CHANGING_RESOURCES:
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
