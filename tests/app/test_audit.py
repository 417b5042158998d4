"""Audit events: every people change is recorded, with the actor, and chained by hashes."""

from __future__ import annotations

from itertools import pairwise

from sqlmodel import col, select
from starlette.testclient import TestClient

from app.db import Database
from app.models import AuditEvent
from app.services.audit import event_hash
from app.settings import Settings

from .factories import world
from .mails import link_path, outbox
from .web import csrf, login


def test_people_changes_and_logins_are_audited_and_chained(
    client: TestClient, settings: Settings
) -> None:
    db = Database(settings.database_url)
    with db.session() as session:
        w = world(session)
    client.post("/login", data={"email": w.referent.email, "password": "wrong"})
    login(client, w.referent.email)
    token = csrf(client)
    client.post(
        f"/dossiers/{w.dossier.id}/invitations",
        data={"csrf_token": token, "emails": "n@test.fr", "role": "relecteur"},
    )
    client.post(f"/dossiers/{w.dossier.id}/invitations/1/revoquer", data={"csrf_token": token})
    client.post(
        f"/dossiers/{w.dossier.id}/invitations",
        data={"csrf_token": token, "emails": "n@test.fr", "role": "producteur"},
    )
    client.post(
        f"/dossiers/{w.dossier.id}/membres/{w.relecteur.id}/role",
        data={"csrf_token": token, "role": "producteur"},
    )
    client.post(
        f"/dossiers/{w.dossier.id}/attributions",
        data={"csrf_token": token, "owner": f"{w.sections[1].id}:{w.relecteur.id}"},
    )
    client.post(
        f"/dossiers/{w.dossier.id}/membres/{w.relecteur.id}/retirer", data={"csrf_token": token}
    )
    client.post("/logout", data={"csrf_token": token})
    path = link_path(outbox(db, "n@test.fr")[-1].body)
    client.post(
        f"{path}/compte",
        data={
            "name": "N",
            "password": "un mot de passe sûr",
            "confirmation": "un mot de passe sûr",
        },
    )
    client.get(f"/dossiers/{w.dossier.id}/attributions")  # a producteur: denied
    with db.session() as session:
        events = list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))
    kinds = {e.kind for e in events}
    assert {
        "auth.login_failed",
        "auth.login",
        "auth.logout",
        "invitation.create",
        "invitation.revoke",
        "invitation.accept",
        "membre.add",
        "membre.role",
        "section.assign",
        "section.unassign",
        "membre.remove",
        "policy.denied",
    } <= kinds
    by_kind = {e.kind: e for e in events}
    assert by_kind["membre.role"].actor_id == w.referent.id
    assert by_kind["membre.role"].data == {"before": "relecteur", "after": "producteur"}
    assert by_kind["policy.denied"].target == f"GET /dossiers/{w.dossier.id}/attributions"
    for previous, event in pairwise(events):
        assert event.prev_hash == previous.hash
        assert event.hash == event_hash(event)
    db.dispose()


def test_only_changes_of_rights_ask_for_open_connections_to_be_rechecked(
    database: Database,
) -> None:
    from app.services import audit

    expected = {
        "section.statut": True,  # a validated section turns read-only
        "membre.remove": True,
        "dossier.state": True,
        "section.restauration": False,  # content, not rights
        "dossier.export": False,
        "auth.login": False,
    }
    for kind, rechecks in expected.items():
        with database.session() as session:
            audit.record(session, kind)
            assert bool(session.info.get(audit.RIGHTS_CHANGED)) is rechecks, kind
