"""The store of section documents: the attributed update log and its checkpoints, in SQL.

Both collab/'s SQL store (app/collab_store.py) and the pages and exports read documents
through `load` too, so what they show is exactly what the editors converge to.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc
from sqlmodel import Session, col, select

from app.models import DocCheckpoint, DocUpdate
from collab.manager import new_doc


def stored_updates(session: Session, doc_name: str) -> tuple[list[bytes], int, int]:
    """(the last checkpoint then the log tail after it, id of the last row, tail length)."""
    checkpoint = session.exec(
        select(DocCheckpoint)
        .where(DocCheckpoint.doc_name == doc_name)
        .order_by(col(DocCheckpoint.upto_update_id).desc())
        .limit(1)  # only the newest: each holds a whole document
    ).first()
    upto = checkpoint.upto_update_id if checkpoint else 0
    rows = session.exec(
        select(DocUpdate.id, DocUpdate.data)
        .where(DocUpdate.doc_name == doc_name, col(DocUpdate.id) > upto)
        .order_by(col(DocUpdate.id))
    ).all()
    updates = ([checkpoint.data] if checkpoint else []) + [data for _, data in rows]
    last = rows[-1][0] if rows else upto
    return updates, int(last or 0), len(rows)


def load(session: Session, doc_name: str) -> Doc[Any]:
    doc = new_doc()
    for update in stored_updates(session, doc_name)[0]:
        doc.apply_update(update)
    return doc


def append_update(
    session: Session, doc_name: str, data: bytes, user_id: int | None, connection_id: str = ""
) -> DocUpdate:
    row = DocUpdate(doc_name=doc_name, data=data, user_id=user_id, connection_id=connection_id)
    session.add(row)
    session.flush()
    return row


def has_updates(session: Session, doc_name: str) -> bool:
    return (
        session.exec(select(DocUpdate.id).where(DocUpdate.doc_name == doc_name)).first() is not None
    )
