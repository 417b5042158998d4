"""« Mot de passe oublié » : no enumeration, single-use links that expire, rate limited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from html import unescape

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from app.auth.sessions import COOKIE_NAME
from app.db import Database
from app.models import PasswordReset
from app.models._base import utcnow
from app.routes.password import SENT
from app.settings import Settings

from .factories import user
from .mails import link_path, outbox
from .web import login

NEW = "un tout nouveau mot de passe"


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    with database.session() as session:
        user(session, "claire@test.fr", "Claire")
    yield database
    database.dispose()


def test_known_and_unknown_addresses_get_the_same_answer(client: TestClient, db: Database) -> None:
    known = client.post("/mot-de-passe-oublie", data={"email": "claire@test.fr"})
    unknown = client.post("/mot-de-passe-oublie", data={"email": "personne@test.fr"})
    assert known.status_code == unknown.status_code == 200
    assert SENT in unescape(known.text) and SENT in unescape(unknown.text)
    assert known.text == unknown.text
    assert [m.to for m in outbox(db)] == ["claire@test.fr"]


def test_reset_then_log_in_with_the_new_password(client: TestClient, db: Database) -> None:
    other = TestClient(client.app, base_url=str(client.base_url))
    login(other, "claire@test.fr")  # a session opened with the old password
    client.post("/mot-de-passe-oublie", data={"email": "Claire@test.fr"})
    path = link_path(outbox(db)[0].body)
    assert client.get(path).status_code == 200
    response = client.post(
        path, data={"password": NEW, "confirmation": NEW}, follow_redirects=False
    )
    assert response.headers["location"] == "/login?reinitialise=1"
    login(client, "claire@test.fr", NEW)
    assert other.get("/dossiers", follow_redirects=False).status_code == 303  # ended
    assert client.get(path).status_code == 404  # single use


def test_bad_new_passwords_are_refused_and_the_link_stays_usable(
    client: TestClient, db: Database
) -> None:
    client.post("/mot-de-passe-oublie", data={"email": "claire@test.fr"})
    path = link_path(outbox(db)[0].body)
    short = client.post(path, data={"password": "court", "confirmation": "court"})
    assert short.status_code == 422 and "au moins 10 caractères" in short.text
    differ = client.post(path, data={"password": NEW, "confirmation": NEW + "!"})
    assert differ.status_code == 422 and "ne sont pas identiques" in differ.text
    assert client.get(path).status_code == 200


def test_expired_and_tampered_links_are_refused(client: TestClient, db: Database) -> None:
    client.post("/mot-de-passe-oublie", data={"email": "claire@test.fr"})
    path = link_path(outbox(db)[0].body)
    assert client.get(path + "x").status_code == 404
    with db.session() as session:
        row = session.exec(select(PasswordReset)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    response = client.post(path, data={"password": NEW, "confirmation": NEW})
    assert response.status_code == 404 and "plus valable" in response.text
    assert client.cookies.get(COOKIE_NAME) is None


def test_a_malformed_address_is_refused(client: TestClient, db: Database) -> None:
    response = client.post("/mot-de-passe-oublie", data={"email": "pas une adresse"})
    assert response.status_code == 422 and "adresse e-mail valide" in response.text
    assert outbox(db) == []


def test_requests_are_rate_limited_per_address(client: TestClient, db: Database) -> None:
    statuses = [
        client.post("/mot-de-passe-oublie", data={"email": "claire@test.fr"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    assert len(outbox(db)) == 3


def test_login_is_rate_limited_per_address(client: TestClient, db: Database) -> None:
    statuses = [
        client.post("/login", data={"email": "claire@test.fr", "password": "faux"}).status_code
        for _ in range(10)
    ]
    assert statuses[:8] == [422] * 8 and statuses[8:] == [429, 429]
    # Even the right password waits for the window to pass.
    response = client.post(
        "/login", data={"email": "claire@test.fr", "password": "correct horse battery"}
    )
    assert response.status_code == 429 and "Réessayez dans" in unescape(response.text)
