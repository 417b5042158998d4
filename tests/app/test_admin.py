"""Administration: disabling an account ends its sessions; only admins get there."""

from __future__ import annotations

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from app.db import Database
from app.models import AuditEvent, User

from .factories import World
from .web import csrf, login


def test_disabling_an_account_ends_all_its_sessions(
    client: TestClient, w: World, db: Database
) -> None:
    victim = TestClient(client.app, base_url=str(client.base_url))
    login(victim, w.producteur.email)
    assert victim.get("/dossiers", follow_redirects=False).status_code == 200
    login(client, w.admin.email)
    page = client.get("/admin/comptes")
    assert "Paul Producteur" in page.text
    response = client.post(
        f"/admin/comptes/{w.producteur.id}/actif",
        data={"csrf_token": csrf(client), "actif": "0"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert victim.get("/dossiers", follow_redirects=False).status_code == 303
    relogin = victim.post(
        "/login", data={"email": w.producteur.email, "password": "correct horse battery"}
    )
    assert relogin.status_code == 422
    client.post(
        f"/admin/comptes/{w.producteur.id}/actif", data={"csrf_token": csrf(client), "actif": "1"}
    )
    with db.session() as session:
        person = session.get(User, w.producteur.id)
        assert person is not None and person.is_active
        kinds = [e.kind for e in session.exec(select(AuditEvent))]
    assert "user.disable" in kinds and "user.enable" in kinds


def test_an_admin_cannot_lock_themselves_out(client: TestClient, w: World) -> None:
    login(client, w.admin.email)
    response = client.post(
        f"/admin/comptes/{w.admin.id}/actif", data={"csrf_token": csrf(client), "actif": "0"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("who", ["referent", "producteur", "relecteur", "outsider"])
def test_administration_is_for_admins_only(client: TestClient, w: World, who: str) -> None:
    login(client, getattr(w, who).email)
    assert client.get("/admin/comptes").status_code == 403
    assert client.get("/admin/courriels").status_code == 403
    response = client.post(
        f"/admin/comptes/{w.producteur.id}/actif", data={"csrf_token": csrf(client), "actif": "0"}
    )
    assert response.status_code == 403
