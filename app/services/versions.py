"""Named versions of a dossier, and restoring a section to a past state.

A version copies nothing: for each section it records the id of the section's last row in the
update log (`VersionSection.upto_update_id`, 0 when the section has none), and the history
service rebuilds the document up to that row. Versions are made by the référent (« manuelle »),
at each section status change (« statut », one section) and at submission (« depot »).

A restore is a new forward change computed by `history.restore_update` and applied through the
live room (collab's `Manager.apply_server_update`), so the log keeps every earlier row untouched
and connected editors converge at once; this module prepares the update and records the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pycrdt import Doc
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.errors import Invalid, NotFound
from app.models import (
    DocUpdate,
    Dossier,
    Question,
    Section,
    User,
    Version,
    VersionSection,
)
from app.services import audit, documents, history
from collab.manager import new_doc

MAX_LABEL = 120  # characters: a name, not a description
KINDS = {"manuelle": "Version enregistrée", "statut": "Changement de statut", "depot": "Dépôt"}


@dataclass(frozen=True)
class NamedVersion:
    """A version as seen from one section: where the section stood in it."""

    id: int
    label: str
    kind: str
    created_at: datetime
    created_by: str  # the author's name ('' for an automatic version made by nobody)
    upto_id: int

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)


def last_update_ids(session: Session, sections: Sequence[Section]) -> dict[int, int]:
    """Each section's last row in the update log (0 for a section never written)."""
    names = {section.doc_name: section.id for section in sections}
    rows = session.exec(
        select(DocUpdate.doc_name, func.max(DocUpdate.id))
        .where(col(DocUpdate.doc_name).in_(list(names)))
        .group_by(col(DocUpdate.doc_name))
    ).all()
    last = {names[name]: int(upto or 0) for name, upto in rows}
    return {section.id: last.get(section.id, 0) for section in sections}  # type: ignore[misc]


def create_version(
    session: Session,
    dossier: Dossier,
    label: str,
    kind: str,
    actor: User | None,
    sections: Sequence[Section] | None = None,
) -> Version:
    """Record where `sections` (every section of the dossier by default) stand now.

    Only committed log rows count: an edit still in collab's group commit (a few milliseconds)
    belongs to the next version. Raises `Invalid` for an empty or too long label.
    """
    label = " ".join(label.split())
    if not label:
        raise Invalid("Donnez un nom à la version.", {"label": "Donnez un nom à la version."})
    if len(label) > MAX_LABEL:
        raise Invalid(
            "Le nom de la version est trop long.",
            {"label": f"Le nom de la version est trop long : {MAX_LABEL} caractères au plus."},
        )
    if sections is None:
        sections = list(session.exec(select(Section).where(Section.dossier_id == dossier.id)))
    version = Version(
        dossier_id=dossier.id,  # type: ignore[arg-type]
        label=label,
        kind=kind,
        created_by=actor.id if actor else None,
    )
    session.add(version)
    session.flush()
    for section_id, upto in last_update_ids(session, sections).items():
        session.add(
            VersionSection(version_id=version.id, section_id=section_id, upto_update_id=upto)  # type: ignore[arg-type]
        )
    session.flush()
    audit.record(
        session,
        "version.creation",
        actor=actor,
        dossier_id=dossier.id,
        target=f"version:{version.id}",
        label=label,
        version_kind=kind,  # `kind` is the event's own
        sections=len(sections),
    )
    return version


def of_section(session: Session, section: Section) -> list[NamedVersion]:
    """The named versions that include `section`, newest first."""
    rows = session.exec(
        select(Version, VersionSection.upto_update_id, User.name)
        .join(VersionSection, col(VersionSection.version_id) == Version.id)
        .outerjoin(User, col(User.id) == Version.created_by)
        .where(VersionSection.section_id == section.id)
        .order_by(col(Version.created_at).desc(), col(Version.id).desc())
    ).all()
    return [
        NamedVersion(v.id, v.label, v.kind, v.created_at, name or "", upto)  # type: ignore[arg-type]
        for v, upto, name in rows
    ]


def check_point(session: Session, section: Section, upto_id: int) -> None:
    """A past state of the section is named by one of its own log rows (0: before any edit);
    anything else, another section's row included, is not found."""
    if upto_id == 0:
        return
    row = session.get(DocUpdate, upto_id)
    if row is None or row.doc_name != section.doc_name:
        raise NotFound()


def questions_of(session: Session, section: Section) -> list[Question]:
    return list(
        session.exec(
            select(Question)
            .where(Question.theme_id == section.theme_id)
            .order_by(col(Question.ordre))
        )
    )


def restore_update(
    session: Session, section: Section, upto_id: int, live_state: bytes | None
) -> bytes | None:
    """The forward update that brings the section's answers back to their state at `upto_id`,
    or None when they already are.

    `live_state` is the open room's whole state when there is one (it may hold edits not yet
    committed); otherwise the current document is loaded from the log. The update is made on a
    copy: the room's own document is only ever touched by the event loop that serves it.
    """
    check_point(session, section, upto_id)
    state = live_state
    if state is None:
        state = documents.load(session, section.doc_name).get_update()
    target = history.doc_at(session, section.doc_name, upto_id)
    update = history.restore_update(_doc(state), target, questions_of(session, section))
    return update if _changes(state, update) else None


def _doc(state: bytes) -> Doc[Any]:
    doc = new_doc()
    doc.apply_update(state)
    return doc


def _changes(state: bytes, update: bytes) -> bool:
    """Does `update` bring anything to the document `state`? (Not from its bytes alone: an
    update made with `get_update(state_vector)` also carries every past deletion.)"""
    doc = _doc(state)
    changes: list[bytes] = []
    subscription = doc.observe(lambda event: changes.append(event.update))
    doc.apply_update(update)
    doc.unobserve(subscription)
    return any(change != b"\x00\x00" for change in changes)


def record_restore(
    session: Session, actor: User, section: Section, upto_id: int, *, changed: bool, saved: bool
) -> None:
    audit.record(
        session,
        "section.restauration",
        actor=actor,
        dossier_id=section.dossier_id,
        target=f"section:{section.id}",
        upto=upto_id,
        changed=changed,
        saved=saved,
    )
