"""Reading what Arobase sent: the outbox, and links in mails."""

from __future__ import annotations

import re

from sqlmodel import col, select

from app.db import Database
from app.models import OutboxMail

_LINK = re.compile(r"https?://\S+/(invitations|mot-de-passe)/([A-Za-z0-9_\-]+)")


def outbox(database: Database, to: str | None = None) -> list[OutboxMail]:
    with database.session() as session:
        query = select(OutboxMail).order_by(col(OutboxMail.id))
        if to:
            query = query.where(OutboxMail.to == to)
        return list(session.exec(query))


def link_path(body: str) -> str:
    match = _LINK.search(body)
    assert match, body
    return f"/{match.group(1)}/{match.group(2)}"
