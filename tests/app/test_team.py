"""Section delegation, role changes, removals and the transfer of the référent role."""

from __future__ import annotations

from html import unescape

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from app.db import Database
from app.models import Affectation, AuditEvent, Membre, Role
from app.services import members
from app.settings import Settings

from .factories import World, user, world
from .mails import link_path, outbox
from .web import csrf, login


@pytest.fixture
def w(db: Database) -> World:
    with db.session() as session:
        built = world(session)
        second = user(session, "prod2@test.fr", "Pia Productrice")
        members.join(session, built.dossier, second, Role.producteur)
        return built


def owners(db: Database, section_id: int) -> set[int]:
    with db.session() as session:
        return set(
            session.exec(select(Affectation.user_id).where(Affectation.section_id == section_id))
        )


def test_the_referent_reassigns_sections_and_people_are_told(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    page = client.get(f"/dossiers/{w.dossier.id}/attributions")
    assert "Pia Productrice" in page.text and "Paul Producteur" in page.text
    with db.session() as session:
        pia = session.exec(select(Membre.user_id).where(Membre.role == "producteur")).all()
    pia_id = max(pia)
    s0, s1 = w.sections[0].id, w.sections[1].id
    response = client.post(
        f"/dossiers/{w.dossier.id}/attributions",
        data={
            "csrf_token": csrf(client),
            "owner": [f"{s0}:{pia_id}", f"{s1}:{pia_id}", f"{s1}:{w.producteur.id}"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert owners(db, s0) == {pia_id}  # Paul lost section 0
    assert owners(db, s1) == {pia_id, w.producteur.id}
    subjects = sorted((m.to, m.subject) for m in outbox(db))
    assert subjects == [
        ("prod2@test.fr", "Nouvelle section à rédiger : Gouvernance"),
        ("prod2@test.fr", "Nouvelle section à rédiger : Services en ligne"),
        ("prod@test.fr", "Nouvelle section à rédiger : Services en ligne"),
        ("prod@test.fr", "Section retirée : Gouvernance"),
    ]
    # Paul's rights follow at once.
    client.cookies.clear()
    login(client, w.producteur.email)
    assert "Lecture seule" in client.get(f"/sections/{s0}").text
    assert "Vous pouvez rédiger" in client.get(f"/sections/{s1}").text


def test_sections_go_only_to_producteurs_of_the_dossier(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    for owner in (
        f"{w.sections[0].id}:{w.relecteur.id}",
        f"{w.sections[0].id}:{w.outsider.id}",
        f"999:{w.producteur.id}",
        "x:y",
    ):
        response = client.post(
            f"/dossiers/{w.dossier.id}/attributions",
            data={"csrf_token": csrf(client), "owner": owner},
        )
        assert response.status_code == 422, owner
    assert owners(db, w.sections[0].id) == {w.producteur.id}


def test_removing_a_member_ends_their_access_at_once_but_keeps_their_name(
    client: TestClient, w: World, db: Database, settings: Settings
) -> None:
    producer = TestClient(client.app, base_url=str(client.base_url))
    login(producer, w.producteur.email)
    assert producer.get(f"/sections/{w.sections[0].id}").status_code == 200
    login(client, w.referent.email)
    response = client.post(
        f"/dossiers/{w.dossier.id}/membres/{w.producteur.id}/retirer",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert producer.get(f"/sections/{w.sections[0].id}").status_code == 403
    assert owners(db, w.sections[0].id) == set()
    with db.session() as session:
        row = session.exec(select(Membre).where(Membre.user_id == w.producteur.id)).one()
        assert row.removed_at is not None
        kinds = [e.kind for e in session.exec(select(AuditEvent))]
    assert "membre.remove" in kinds and "section.unassign" in kinds


def test_the_last_referent_cannot_leave(client: TestClient, w: World) -> None:
    login(client, w.admin.email)  # not a member: refused outright
    path = f"/dossiers/{w.dossier.id}/membres/{w.referent.id}/retirer"
    assert client.post(path, data={"csrf_token": csrf(client)}).status_code == 403


def test_changing_a_role_drops_sections_and_tells_the_person(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    response = client.post(
        f"/dossiers/{w.dossier.id}/membres/{w.producteur.id}/role",
        data={"csrf_token": csrf(client), "role": "relecteur"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert owners(db, w.sections[0].id) == set()
    (mail,) = outbox(db, w.producteur.email)
    assert "vous êtes désormais relecteur·rice" in mail.body
    bad = client.post(
        f"/dossiers/{w.dossier.id}/membres/{w.producteur.id}/role",
        data={"csrf_token": csrf(client), "role": "referent"},
    )
    assert bad.status_code == 422


def test_handing_over_the_referent_role(client: TestClient, w: World, db: Database) -> None:
    login(client, w.referent.email)
    response = client.post(
        f"/dossiers/{w.dossier.id}/membres/{w.relecteur.id}/transmettre",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    (mail,) = outbox(db, w.relecteur.email)
    assert "vous propose de devenir référent·e" in mail.body
    path = link_path(mail.body)
    client.cookies.clear()
    login(client, w.relecteur.email)
    assert "Devenir référent·e du dossier" in unescape(client.get(path).text)
    client.post(path, data={"csrf_token": csrf(client)})
    with db.session() as session:
        roles = {m.user_id: m.role for m in session.exec(select(Membre))}
    assert roles[w.relecteur.id] == "referent"
    assert roles[w.referent.id] == "producteur"
    page = client.get(f"/dossiers/{w.dossier.id}/equipe").text
    assert "Inviter des personnes" in page


def test_only_a_member_can_be_offered_the_role(client: TestClient, w: World) -> None:
    login(client, w.referent.email)
    response = client.post(
        f"/dossiers/{w.dossier.id}/membres/{w.outsider.id}/transmettre",
        data={"csrf_token": csrf(client)},
    )
    assert response.status_code == 404


def test_members_see_the_team_but_cannot_manage_it(client: TestClient, w: World) -> None:
    login(client, w.relecteur.email)
    page = client.get(f"/dossiers/{w.dossier.id}/equipe")
    assert page.status_code == 200
    assert "Rita Référente" in page.text and "Inviter des personnes" not in page.text
    assert "Retirer du dossier" not in page.text
