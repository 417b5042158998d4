"""The permission matrix enumerated over HTTP: every persona × dossier state × action.

`test_policy.py` checks `app.policy` as a pure function; this module checks that the routes
really ask it, and that a refusal is a 403 which changes nothing in the database and leaves a
`policy.denied` audit event. What is expected comes from the tables below, written out by hand
(never from `app.policy.can`, or the test could not fail). A new `Action` without a line in
these tables and a request that performs it fails `test_every_action_is_enumerated_over_http`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import pytest
import sqlmodel
from pycrdt import Doc, XmlFragment
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel, col
from starlette.testclient import TestClient

from app.db import Database
from app.models import (
    AuditEvent,
    Comment,
    Depot,
    DocUpdate,
    DossierState,
    OutboxMail,
    Role,
    Section,
    SectionStatus,
    Thread,
    User,
)
from app.policy import Action
from app.routes import comments as comment_routes
from app.services import accounts, invitations, members
from app.settings import Settings

from . import comment_helpers, factories
from .factories import user, world
from .web import csrf, login

# Who acts. « producteur » owns the section the requests target (the first one);
# « producteur_sans_section » is a second producteur of the dossier who owns none.
PERSONAS = (
    "referent",
    "producteur",
    "producteur_sans_section",
    "relecteur",
    "exterieur",
    "admin",
    "jury",
)

# One letter per dossier state, in this order: the letter means allowed, « . » refused.
STATES = (
    DossierState.brouillon,  # B
    DossierState.depose,  # D
    DossierState.en_instruction,  # I
    DossierState.labellise,  # L
    DossierState.verrouille,  # V
)
ALL = "BDILV"
NONE = "....."
DRAFT = "B...."
SUBMITTED = ".DIL."

# fmt: off
EXPECTED: dict[Action, tuple[str, ...]] = {
    #                          referent producteur  prod. sans relecteur  exterieur  admin  jury
    Action.DOSSIER_READ:      (ALL,     ALL,        ALL,       ALL,       NONE,      ALL,   SUBMITTED),  # noqa: E501
    Action.SECTION_READ:      (ALL,     ALL,        ALL,       ALL,       NONE,      ALL,   SUBMITTED),  # noqa: E501
    Action.MEMBERS_READ:      (ALL,     ALL,        ALL,       ALL,       NONE,      ALL,   SUBMITTED),  # noqa: E501
    Action.DOSSIER_EXPORT:    (ALL,     NONE,       NONE,      NONE,      NONE,      ALL,   SUBMITTED),  # noqa: E501
    Action.SECTION_WRITE:     (DRAFT,   DRAFT,      NONE,      NONE,      NONE,      NONE,  NONE),
    Action.SECTION_ASSIGN:    (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.MEMBERS_MANAGE:    (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.REFERENT_TRANSFER: (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.SECTION_MARK_DONE: (DRAFT,   DRAFT,      NONE,      NONE,      NONE,      NONE,  NONE),
    Action.SECTION_VALIDATE:  (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.SECTION_SEND_BACK: (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.SECTION_REOPEN:    (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.HISTORY_READ:      (ALL,     ALL,        NONE,      ALL,       NONE,      ALL,   NONE),
    Action.VERSION_CREATE:    (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.SECTION_RESTORE:   (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.CONTRIBUTIONS_READ: (ALL,    NONE,       NONE,      NONE,      NONE,      ALL,   NONE),
    Action.DOSSIER_COMPLETENESS: (ALL,  ALL,        ALL,       ALL,       NONE,      ALL,   NONE),
    Action.DOSSIER_RECEIPT:   (SUBMITTED, NONE,     NONE,      NONE,      NONE,      SUBMITTED, NONE),  # noqa: E501
    Action.DOSSIER_CORRECTION: (NONE,   NONE,       NONE,      NONE,      NONE,      ".DI.V", NONE),
    Action.DOSSIER_SUBMIT:    (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    # Comments: the team discusses drafts; the association's staff read; the jury never sees them.
    Action.COMMENT_READ:      (ALL,     ALL,        ALL,       ALL,       NONE,      ALL,   NONE),
    Action.COMMENT_WRITE:     (DRAFT,   DRAFT,      DRAFT,     DRAFT,     NONE,      NONE,  NONE),
    Action.COMMENT_DELETE_OWN: (DRAFT,  DRAFT,      DRAFT,     DRAFT,     NONE,      NONE,  NONE),
    Action.COMMENT_MODERATE:  (DRAFT,   NONE,       NONE,      NONE,      NONE,      NONE,  NONE),
    Action.THREAD_RESOLVE:    (DRAFT,   DRAFT,      NONE,      NONE,      NONE,      NONE,  NONE),
}

# Platform actions concern no dossier: no state dimension.
PLATFORM_EXPECTED: dict[Action, tuple[bool, ...]] = {
    #                        referent producteur prod. sans relecteur exterieur admin jury
    Action.ACCOUNTS_MANAGE: (False,   False,     False,     False,    False,    True, False),
    Action.OUTBOX_READ:     (False,   False,     False,     False,    False,    True, False),
    Action.AUDIT_READ:      (False,   False,     False,     False,    False,    True, False),
}
# fmt: on


def expected(action: Action, persona: str, state: DossierState) -> bool:
    letters = EXPECTED[action][PERSONAS.index(persona)]
    assert len(letters) == len(STATES) and set(letters) <= set(ALL + "."), letters
    return letters[STATES.index(state)] != "."


def platform_expected(action: Action, persona: str) -> bool:
    return PLATFORM_EXPECTED[action][PERSONAS.index(persona)]


@dataclass(frozen=True)
class Scene:
    """Ids of what the requests act on (plain ints: no ORM object outlives its session)."""

    dossier: int
    section: int  # owned by « producteur »
    other_section: int  # owned by nobody
    earlier_update: int  # a row of the section's log, followed by another one (to restore)
    producteur: int
    producteur_sans_section: int
    role_target: int  # a relecteur whose role the référent may change, or offer the référent role
    remove_target: int  # a relecteur whom the référent may remove
    invitation_to_revoke: int
    invitation_to_resend: int
    account_to_disable: int
    account_to_enable: int
    mail: int
    thread: int  # an open thread on the section, on its question
    thread_to_delete: int
    comment_of_other: int  # in `thread`, written by none of the personas
    detached_thread: int  # on a passage since deleted
    passage_start: str  # anchors of a passage of the section's rich-text answer
    passage_end: str
    actors: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    own_comments: dict[str, int] = field(default_factory=dict)  # persona → a comment of theirs


@dataclass(frozen=True)
class Probe:
    """One request that performs `action`."""

    action: Action
    method: str
    path: str
    data: dict[str, Any] = field(default_factory=dict)
    # SECTION_WRITE has no HTTP write route yet: the section page says whether one may write.
    shows_write_right: bool = False
    # The status the targeted section is put in first, one the transition starts from: so each
    # workflow probe stands on its own, whatever the probes before it did to the section.
    section_status: SectionStatus | None = None
    # Make the dossier submittable first (required answers given, every section validated).
    complete: bool = False
    # Put `Scene.thread` in this state first: resolved (True) or open (False).
    thread_resolved: bool | None = None


CAN_WRITE = "Vous pouvez rédiger cette section"
READ_ONLY = "Lecture seule"
# A POST with a bad token is refused (and audited) too: make sure the policy did the refusing.
CSRF_REFUSED = "Le formulaire a expir"


def dossier_probes(s: Scene) -> list[Probe]:
    """Reads first, then changes (each change acts on its own target)."""
    d = f"/dossiers/{s.dossier}"
    return [
        Probe(Action.DOSSIER_READ, "GET", d),
        Probe(Action.MEMBERS_READ, "GET", f"{d}/equipe"),
        Probe(Action.SECTION_READ, "GET", f"/sections/{s.section}"),
        Probe(Action.SECTION_WRITE, "GET", f"/sections/{s.section}", shows_write_right=True),
        Probe(Action.DOSSIER_EXPORT, "GET", f"{d}/export.json"),
        Probe(Action.SECTION_ASSIGN, "GET", f"{d}/attributions"),
        Probe(
            Action.SECTION_ASSIGN,
            "POST",
            f"{d}/attributions",
            {
                "owner": [
                    f"{s.section}:{s.producteur}",
                    f"{s.other_section}:{s.producteur_sans_section}",
                ]
            },
        ),
        Probe(
            Action.MEMBERS_MANAGE,
            "POST",
            f"{d}/invitations",
            {
                "emails": "nouvelle@test.fr",
                "role": "producteur",
                "sections": [str(s.other_section)],
                "message": "Bienvenue !",
            },
        ),
        Probe(Action.MEMBERS_MANAGE, "POST", f"{d}/invitations/{s.invitation_to_revoke}/revoquer"),
        Probe(Action.MEMBERS_MANAGE, "POST", f"{d}/invitations/{s.invitation_to_resend}/renvoyer"),
        Probe(
            Action.MEMBERS_MANAGE,
            "POST",
            f"{d}/membres/{s.role_target}/role",
            {"role": "producteur"},
        ),
        Probe(Action.MEMBERS_MANAGE, "POST", f"{d}/membres/{s.remove_target}/retirer"),
        Probe(Action.REFERENT_TRANSFER, "POST", f"{d}/membres/{s.role_target}/transmettre"),
        *comment_probes(s),
        *workflow_probes(s),
        *history_probes(s),
        *submission_probes(s),  # last: a submission or a correction changes the dossier's state
    ]


OWN_COMMENT = "/commentaires/{own}/supprimer"  # the acting persona's own comment


def comment_probes(s: Scene) -> list[Probe]:
    """Reading a section's threads and following its feed; opening threads (on the question,
    on a passage), replying, re-attaching; deleting one's comment; resolving and reopening;
    deleting someone else's comment, and a thread."""
    c, f = f"/sections/{s.section}/commentaires", "/commentaires/fils"
    passage = {"anchor_start": s.passage_start, "anchor_end": s.passage_end}
    key = comment_helpers.KEY
    return [
        Probe(Action.COMMENT_READ, "GET", c),
        Probe(Action.COMMENT_READ, "GET", f"{c}/flux"),
        Probe(Action.COMMENT_WRITE, "POST", c, {"question": key, "body": "Une remarque."}),
        Probe(Action.COMMENT_WRITE, "POST", c, {"question": key, "body": "Ici.", **passage}),
        Probe(
            Action.COMMENT_WRITE,
            "POST",
            f"{f}/{s.thread}/repondre",
            {"body": "Une réponse."},
            thread_resolved=False,
        ),
        Probe(Action.COMMENT_WRITE, "POST", f"{f}/{s.detached_thread}/rattacher", passage),
        Probe(Action.COMMENT_DELETE_OWN, "POST", OWN_COMMENT),
        Probe(Action.THREAD_RESOLVE, "POST", f"{f}/{s.thread}/resoudre", thread_resolved=False),
        Probe(Action.THREAD_RESOLVE, "POST", f"{f}/{s.thread}/rouvrir", thread_resolved=True),
        Probe(Action.COMMENT_MODERATE, "POST", f"/commentaires/{s.comment_of_other}/supprimer"),
        Probe(Action.COMMENT_MODERATE, "POST", f"{f}/{s.thread_to_delete}/supprimer"),
    ]


def put_thread_in(db: Database, thread_id: int, resolved: bool) -> None:
    with db.session() as session:
        thread = session.get(Thread, thread_id)
        assert thread is not None
        thread.resolved_at = thread.created_at if resolved else None
        session.add(thread)


def submission_probes(s: Scene) -> list[Probe]:
    d = f"/dossiers/{s.dossier}"
    correction = {"sections": [str(s.section)], "message": "Précisez le budget."}
    return [
        Probe(Action.DOSSIER_COMPLETENESS, "GET", f"{d}/completude"),
        Probe(Action.DOSSIER_RECEIPT, "GET", f"{d}/accuse-depot.pdf"),
        Probe(Action.DOSSIER_CORRECTION, "GET", f"{d}/correction"),
        Probe(Action.DOSSIER_CORRECTION, "POST", f"{d}/correction", correction),
        Probe(
            Action.DOSSIER_SUBMIT, "POST", f"{d}/deposer", {"confirmation": "oui"}, complete=True
        ),
    ]


def make_complete(db: Database, scene: Scene) -> None:
    with db.session() as session:
        first = session.get(Section, scene.section)
        author = session.get(User, scene.actors["producteur"])
        assert first is not None and author is not None
        text = [{"type": "paragraphe", "texte": "Notre stratégie."}]
        factories.answer(session, first, author, {"gouvernance.strategie": text})
        for section in session.exec(sqlmodel.select(Section)):
            section.statut = SectionStatus.validee
            session.add(section)


def history_probes(s: Scene) -> list[Probe]:
    """Reading the section's history (after the workflow: allowed transitions name versions);
    naming a version; restoring the earlier state, from a status that allows writing."""
    d, h = f"/dossiers/{s.dossier}", f"/sections/{s.section}"
    return [
        Probe(Action.HISTORY_READ, "GET", f"{h}/historique"),
        Probe(Action.HISTORY_READ, "GET", f"{h}/historique/{s.earlier_update}"),
        Probe(Action.HISTORY_READ, "GET", f"{h}/comparer?de={s.earlier_update}&a=maintenant"),
        Probe(Action.HISTORY_READ, "GET", f"{h}/auteurs"),
        Probe(Action.CONTRIBUTIONS_READ, "GET", f"{d}/contributions"),
        Probe(Action.VERSION_CREATE, "GET", f"{d}/versions"),
        Probe(Action.VERSION_CREATE, "POST", f"{d}/versions", {"label": "Avant relecture"}),
        Probe(
            Action.SECTION_RESTORE,
            "POST",
            f"{h}/historique/{s.earlier_update}/restaurer",
            section_status=SectionStatus.en_cours,
        ),
    ]


def workflow_probes(s: Scene) -> list[Probe]:
    """Each transition of the section « producteur » owns, from a status it starts from."""
    statut = f"/sections/{s.section}/statut"
    return [
        Probe(
            Action.SECTION_MARK_DONE,
            "POST",
            f"{statut}/terminer",
            {"message": "Prête."},
            section_status=SectionStatus.en_cours,
        ),
        Probe(
            Action.SECTION_VALIDATE,
            "POST",
            f"{statut}/valider",
            section_status=SectionStatus.a_relire,
        ),
        Probe(
            Action.SECTION_SEND_BACK,
            "POST",
            f"{statut}/renvoyer",
            {"message": "Chiffrez le budget."},
            section_status=SectionStatus.a_relire,
        ),
        Probe(
            Action.SECTION_REOPEN,
            "POST",
            f"{statut}/rouvrir",
            section_status=SectionStatus.validee,
        ),
    ]


def put_section_in(db: Database, section_id: int, status: SectionStatus) -> None:
    with db.session() as session:
        section = session.get(Section, section_id)
        assert section is not None
        section.statut = status
        session.add(section)


def platform_probes(s: Scene) -> list[Probe]:
    return [
        Probe(Action.ACCOUNTS_MANAGE, "GET", "/admin/comptes"),
        Probe(
            Action.ACCOUNTS_MANAGE,
            "POST",
            f"/admin/comptes/{s.account_to_disable}/actif",
            {"actif": "0"},
        ),
        Probe(
            Action.ACCOUNTS_MANAGE,
            "POST",
            f"/admin/comptes/{s.account_to_enable}/actif",
            {"actif": "1"},
        ),
        Probe(Action.OUTBOX_READ, "GET", "/admin/courriels"),
        Probe(Action.OUTBOX_READ, "GET", f"/admin/courriels/{s.mail}"),
        Probe(Action.AUDIT_READ, "GET", "/admin/journal"),
        Probe(Action.AUDIT_READ, "GET", "/admin/journal.csv"),
    ]


def build(db: Database, settings: Settings, state: DossierState) -> Scene:
    """`factories.world`, a second producteur, a jury member, targets; then the dossier's state."""
    with db.session() as session:
        w = world(session)
        producteur2 = user(session, "prod2@test.fr", "Pia Productrice")
        members.join(session, w.dossier, producteur2, Role.producteur)
        jury = user(session, "jury@test.fr", "Jules Jury")
        jury.is_jury = True
        session.add(jury)
        # Targets never log in: no password, so no argon2 cost.
        role_target = accounts.create_user(session, "cible.role@test.fr", "Cible Rôle")
        remove_target = accounts.create_user(session, "cible.retrait@test.fr", "Cible Retrait")
        for target in (role_target, remove_target):
            members.join(session, w.dossier, target, Role.relecteur)
        to_revoke, to_resend = invitations.invite(
            session,
            settings,
            w.referent,
            w.dossier,
            "invitee.a@test.fr invitee.b@test.fr",
            Role.relecteur,
            [],
        )
        account_on = accounts.create_user(session, "compte.actif@test.fr", "Compte Actif")
        account_off = accounts.create_user(session, "compte.inactif@test.fr", "Compte Inactif")
        account_off.is_active = False
        session.add(account_off)
        factories.answer(session, w.sections[0], w.producteur, {"gouvernance.elu": True})
        earlier = session.exec(sqlmodel.select(func.max(DocUpdate.id))).one()
        factories.answer(session, w.sections[0], w.producteur, {"gouvernance.elu": False})
        w.dossier.etat = state
        session.add(w.dossier)
        session.flush()
        if state in (DossierState.depose, DossierState.en_instruction, DossierState.labellise):
            session.add(
                Depot(
                    dossier_id=w.dossier.id,
                    submitted_by=w.referent.id,
                    digest="0" * 64,
                    signature="0" * 64,
                    receipt=b"%PDF-1.4 test",
                )
            )
        mail_id = session.exec(sqlmodel.select(OutboxMail.id).order_by(col(OutboxMail.id))).first()
        discussion = _discussion(session, w, role_target)
        actors = {
            "referent": w.referent,
            "producteur": w.producteur,
            "producteur_sans_section": producteur2,
            "relecteur": w.relecteur,
            "exterieur": w.outsider,
            "admin": w.admin,
            "jury": jury,
        }
        return Scene(
            dossier=w.dossier.id,  # type: ignore[arg-type]
            section=w.sections[0].id,  # type: ignore[arg-type]
            other_section=w.sections[1].id,  # type: ignore[arg-type]
            earlier_update=earlier,
            producteur=w.producteur.id,  # type: ignore[arg-type]
            producteur_sans_section=producteur2.id,  # type: ignore[arg-type]
            role_target=role_target.id,  # type: ignore[arg-type]
            remove_target=remove_target.id,  # type: ignore[arg-type]
            invitation_to_revoke=to_revoke.id,  # type: ignore[arg-type]
            invitation_to_resend=to_resend.id,  # type: ignore[arg-type]
            account_to_disable=account_on.id,  # type: ignore[arg-type]
            account_to_enable=account_off.id,  # type: ignore[arg-type]
            mail=mail_id,  # type: ignore[arg-type]
            actors={k: u.id for k, u in actors.items()},  # type: ignore[misc]
            emails={k: u.email for k, u in actors.items()},
            own_comments={
                persona: _comment(session, discussion["thread"], person)
                for persona, person in actors.items()
            },
            **discussion,
        )


def _discussion(session: Session, w: factories.World, other: User) -> dict[str, Any]:
    """Threads to act on, and a passage of the section's answer (another one deleted)."""
    section = w.sections[0]
    client_id = comment_helpers.write_paragraphs(
        session, section, w.producteur, ["Notre stratégie est claire.", "Un passage à supprimer."]
    )
    start, end = comment_helpers.anchor(session, section, client_id, "stratégie")
    gone = comment_helpers.anchor(session, section, client_id, "passage à supprimer")

    def delete_second_paragraph(doc: Doc[Any]) -> None:
        del doc.get(comment_helpers.KEY, type=XmlFragment).children[1]

    comment_helpers.edit(session, section, w.producteur, delete_second_paragraph)
    thread = _thread(session, section.id, w.relecteur)  # type: ignore[arg-type]
    detached = _thread(session, section.id, w.relecteur, gone)  # type: ignore[arg-type]
    return {
        "thread": thread,
        "thread_to_delete": _thread(session, section.id, w.relecteur),  # type: ignore[arg-type]
        "comment_of_other": _comment(session, thread, other),
        "detached_thread": detached,
        "passage_start": start,
        "passage_end": end,
    }


def _thread(
    session: Session, section_id: int, author: User, anchor: tuple[str, str] | None = None
) -> int:
    thread = Thread(
        section_id=section_id,
        question_key=comment_helpers.KEY,
        anchor_start=anchor[0] if anchor else None,
        anchor_end=anchor[1] if anchor else None,
        quote="passage à supprimer" if anchor else "",
        author_id=author.id,  # type: ignore[arg-type]
    )
    session.add(thread)
    session.flush()
    _comment(session, thread.id, author)  # type: ignore[arg-type]
    return thread.id  # type: ignore[return-value]


def _comment(session: Session, thread_id: int, author: User) -> int:
    comment = Comment(thread_id=thread_id, author_id=author.id, body=f"De {author.name}.")  # type: ignore[arg-type]
    session.add(comment)
    session.flush()
    return comment.id  # type: ignore[return-value]


# Everything but the audit log (checked on its own) and a session's sliding `last_seen_at`.
_NOT_COMPARED = {"audit_event": None, "user_session": {"last_seen_at"}}


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in _NOT_COMPARED and _NOT_COMPARED[table.name] is None:
                continue
            skip = _NOT_COMPARED.get(table.name) or set()
            columns = [c for c in table.c if c.name not in skip]
            query = select(*columns).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(r) for r in conn.execute(query)]
    return rows


def last_event_id(db: Database) -> int:
    with db.engine.connect() as conn:
        value = conn.execute(select(func.max(AuditEvent.id))).scalar_one()
    return value or 0


def events_after(db: Database, event_id: int) -> list[tuple[str, int | None, str]]:
    table = AuditEvent.__table__  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        query = (
            select(table.c.kind, table.c.actor_id, table.c.target)
            .where(table.c.id > event_id)
            .order_by(table.c.id)
        )
        return [tuple(r) for r in conn.execute(query)]


def diff(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> str:
    """Which rows a request changed, each shortened (mail bodies are long)."""
    changed = []
    for name in before:
        if before[name] != after[name]:
            gone = [repr(r)[:120] for r in before[name] if r not in after[name]]
            new = [repr(r)[:120] for r in after[name] if r not in before[name]]
            changed.append(f"{name}: -{gone} +{new}")
    return "; ".join(changed)


def check(
    client: TestClient,
    db: Database,
    token: str,
    actor_id: int,
    probe: Probe,
    allowed: bool,
    readable: bool,
    where: str,
) -> list[str]:
    """What is wrong with performing `probe` (empty when the app behaves as expected)."""
    before, last = snapshot(db), last_event_id(db)
    if probe.method == "GET":
        response = client.get(probe.path, follow_redirects=False)
    else:
        data = {**probe.data, "csrf_token": token}
        response = client.post(probe.path, data=data, follow_redirects=False)
    status = response.status_code
    after, events = snapshot(db), events_after(db, last)
    denied = [e for e in events if e[0] == "policy.denied"]
    where = f"{where} — {probe.action} ({probe.method} {probe.path})"
    problems = []

    refused_by_status = not (probe.shows_write_right and readable)
    if allowed or not refused_by_status:
        # Allowed (or SECTION_WRITE refused on a page one may read: it says « Lecture seule »).
        if not 200 <= status < 400:
            problems.append(f"{where}: expected 2xx/3xx, got {status}")
        if denied:
            problems.append(f"{where}: answered {status} but recorded {denied}")
        if probe.method == "POST" and allowed:
            if status == 303 and "ok=" not in response.headers.get("location", ""):
                problems.append(f"{where}: redirected to {response.headers.get('location')}")
            if after == before:
                problems.append(f"{where}: allowed and answered {status}, but changed nothing")
        if probe.shows_write_right and status == 200:
            says = CAN_WRITE if allowed else READ_ONLY
            other = READ_ONLY if allowed else CAN_WRITE
            if says not in response.text or other in response.text:
                problems.append(f"{where}: the section page does not say « {says} »")
        return problems

    if status != 403:
        problems.append(f"{where}: expected 403, got {status}")
    elif CSRF_REFUSED in response.text:
        problems.append(f"{where}: refused for its CSRF token, not by the policy")
    if after != before:
        problems.append(f"{where}: refused ({status}) but changed {diff(before, after)}")
    path = probe.path.split("?")[0]  # the refusal names the path, not the query
    wanted = [("policy.denied", actor_id, f"{probe.method} {path}")]
    if events != wanted:
        problems.append(f"{where}: audit events {events}, expected {wanted}")
    return problems


@pytest.mark.parametrize("state", STATES, ids=[s.value for s in STATES])
@pytest.mark.parametrize("persona", PERSONAS)
def test_dossier_actions_over_http(
    client: TestClient,
    db: Database,
    settings: Settings,
    persona: str,
    state: DossierState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(comment_routes, "STREAM_SECONDS", 0.05)  # the feed's probe ends soon
    scene = build(db, settings, state)
    login(client, scene.emails[persona])
    token = csrf(client)
    readable = expected(Action.SECTION_READ, persona, state)
    problems: list[str] = []
    for probe in dossier_probes(scene):
        if probe.path == OWN_COMMENT:
            probe = replace(probe, path=OWN_COMMENT.format(own=scene.own_comments[persona]))
        if probe.thread_resolved is not None:
            put_thread_in(db, scene.thread, probe.thread_resolved)
        if probe.section_status is not None:
            put_section_in(db, scene.section, probe.section_status)
        if probe.complete:
            make_complete(db, scene)
        allowed = expected(probe.action, persona, state)
        where = f"{persona} / {state.value}"
        problems += check(client, db, token, scene.actors[persona], probe, allowed, readable, where)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("persona", PERSONAS)
def test_platform_actions_over_http(
    client: TestClient, db: Database, settings: Settings, persona: str
) -> None:
    scene = build(db, settings, DossierState.brouillon)
    login(client, scene.emails[persona])
    token = csrf(client)
    problems: list[str] = []
    for probe in platform_probes(scene):
        allowed = platform_expected(probe.action, persona)
        problems += check(client, db, token, scene.actors[persona], probe, allowed, False, persona)
    assert not problems, "\n".join(problems)


def test_every_action_is_enumerated_over_http() -> None:
    """A new `Action` must get a line in a table above and a request that performs it."""
    assert set(EXPECTED).isdisjoint(PLATFORM_EXPECTED)
    assert set(EXPECTED) | set(PLATFORM_EXPECTED) == set(Action)
    for row in [*EXPECTED.values(), *PLATFORM_EXPECTED.values()]:
        assert len(row) == len(PERSONAS), row
    for action in EXPECTED:
        for persona in PERSONAS:
            for state in STATES:
                expected(action, persona, state)  # well-formed
    assert set(STATES) == set(DossierState), "a new dossier state needs a column in EXPECTED"
    ids = {f.name: 1 for f in fields(Scene) if f.name not in ("actors", "emails", "own_comments")}
    dummy = Scene(**ids)  # type: ignore[arg-type]
    assert {p.action for p in dossier_probes(dummy)} == set(EXPECTED)
    assert {p.action for p in platform_probes(dummy)} == set(PLATFORM_EXPECTED)
