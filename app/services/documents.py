"""The store of section documents: the attributed update log and its checkpoints, in SQL.

This is the SQL side that collab/'s Store protocol will use; pages and exports read documents
through `load` too, so what they show is exactly what the editors converge to.
"""

from __future__ import annotations

import random
from typing import Any

from pycrdt import Doc
from sqlmodel import Session, col, select

from app.models import DocCheckpoint, DocUpdate


def new_doc() -> Doc[Any]:
    # skip_gc keeps deleted content for versions; a 32-bit client id keeps updates as small as
    # Yjs' own (pycrdt's default 53-bit id makes each one ~30 % larger).
    return Doc(skip_gc=True, client_id=random.getrandbits(32))


def load(session: Session, doc_name: str) -> Doc[Any]:
    doc = new_doc()
    checkpoint = session.exec(
        select(DocCheckpoint)
        .where(DocCheckpoint.doc_name == doc_name)
        .order_by(col(DocCheckpoint.upto_update_id).desc())
    ).first()
    after = 0
    if checkpoint is not None:
        doc.apply_update(checkpoint.data)
        after = checkpoint.upto_update_id
    updates = session.exec(
        select(DocUpdate.data)
        .where(DocUpdate.doc_name == doc_name, col(DocUpdate.id) > after)
        .order_by(col(DocUpdate.id))
    )
    for data in updates:
        doc.apply_update(data)
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
