"""Login, logout, server-side sessions, their expiry and the defences around them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from app.auth.sessions import COOKIE_NAME
from app.db import Database
from app.main import create_app
from app.models import AuditEvent, User, UserSession
from app.routes.auth import LOGIN_FAILED
from app.settings import Settings

from ..conftest import make_settings
from .factories import user
from .web import csrf, login


@pytest.fixture
def db(settings: Settings) -> Database:
    database = Database(settings.database_url)
    with database.session() as session:
        user(session, "claire@test.fr", "Claire")
    return database


def test_login_sets_a_hardened_session_cookie(client: TestClient, db: Database) -> None:
    response = client.post(
        "/login",
        data={
            "email": "  Claire@Test.fr ",
            "password": "correct horse battery",
            "next": "/dossiers",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dossiers"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert client.get("/dossiers").status_code == 200
    with db.session() as session:
        (row,) = session.exec(select(UserSession)).all()
        token = client.cookies[COOKIE_NAME]
        assert token not in row.id  # only the hash is stored
        kinds = [e.kind for e in session.exec(select(AuditEvent))]
    assert "auth.login" in kinds


def test_cookie_is_secure_when_served_over_https(sqlite_url: str, db: Database) -> None:
    settings = make_settings(sqlite_url, base_url="https://arobase.example")
    with TestClient(create_app(settings), base_url="https://arobase.example") as client:
        response = client.post(
            "/login",
            data={"email": "claire@test.fr", "password": "correct horse battery"},
            follow_redirects=False,
        )
    assert "Secure" in response.headers["set-cookie"]
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize(
    ("email", "password"),
    [("claire@test.fr", "wrong password"), ("nobody@test.fr", "correct horse battery")],
)
def test_failed_login_says_the_same_for_known_and_unknown_emails(
    client: TestClient, db: Database, email: str, password: str
) -> None:
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 422
    assert LOGIN_FAILED in response.text
    assert 'aria-invalid="true"' in response.text and 'class="error-summary"' in response.text
    assert COOKIE_NAME not in client.cookies
    assert f'value="{email}"' in response.text  # what was typed is kept


def test_empty_login_form_names_each_missing_field(client: TestClient) -> None:
    response = client.post("/login", data={})
    assert response.status_code == 422
    assert "Saisissez votre adresse e-mail." in response.text
    assert "Saisissez votre mot de passe." in response.text


def test_disabled_account_cannot_log_in_and_loses_its_sessions(
    client: TestClient, db: Database
) -> None:
    login(client, "claire@test.fr")
    with db.session() as session:
        account = session.exec(select(UserSession)).one()
        person = session.get(User, account.user_id)
        assert person is not None
        person.is_active = False
        session.add(person)
    assert client.get("/dossiers", follow_redirects=False).status_code == 303
    response = client.post(
        "/login", data={"email": "claire@test.fr", "password": "correct horse battery"}
    )
    assert response.status_code == 422


def test_logout_ends_the_session_on_the_server(client: TestClient, db: Database) -> None:
    login(client, "claire@test.fr")
    token = client.cookies[COOKIE_NAME]
    response = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    # Replaying the old cookie does not bring the session back.
    client.cookies.set(COOKIE_NAME, token)
    response = client.get("/dossiers", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/dossiers"


def test_logout_without_the_csrf_token_is_refused(client: TestClient, db: Database) -> None:
    login(client, "claire@test.fr")
    response = client.post("/logout", data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert client.get("/dossiers", follow_redirects=False).status_code == 200


def test_htmx_requests_send_the_token_in_a_header(client: TestClient, db: Database) -> None:
    login(client, "claire@test.fr")
    response = client.post(
        "/logout",
        headers={"X-CSRF-Token": csrf(client), "HX-Request": "true"},
        follow_redirects=False,
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_site_posts_are_refused(
    client: TestClient, db: Database, headers: dict[str, str]
) -> None:
    response = client.post(
        "/login",
        data={"email": "claire@test.fr", "password": "correct horse battery"},
        headers=headers,
    )
    assert response.status_code == 403
    assert COOKIE_NAME not in client.cookies


def test_same_origin_posts_are_accepted(client: TestClient, db: Database) -> None:
    response = client.post(
        "/login",
        data={"email": "claire@test.fr", "password": "correct horse battery"},
        headers={"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert response.status_code == 303


@pytest.mark.parametrize("field", ["expires_at", "last_seen_at"])
def test_sessions_expire(client: TestClient, db: Database, field: str) -> None:
    login(client, "claire@test.fr")
    assert client.get("/dossiers", follow_redirects=False).status_code == 200
    with db.session() as session:
        row = session.exec(select(UserSession)).one()
        if field == "expires_at":
            row.expires_at = row.created_at  # max age reached
        else:
            row.last_seen_at -= timedelta(hours=3)  # idle longer than the 2 h timeout
        session.add(row)
    response = client.get("/dossiers", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/dossiers"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil"])
def test_login_never_redirects_off_site(client: TestClient, db: Database, target: str) -> None:
    response = client.post(
        "/login",
        data={"email": "claire@test.fr", "password": "correct horse battery", "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/dossiers"


def test_a_forged_cookie_is_just_anonymous(client: TestClient, db: Database) -> None:
    client.cookies.set(COOKIE_NAME, "not-a-real-session")
    response = client.get("/dossiers", follow_redirects=False)
    assert response.status_code == 303


def test_oversized_form_is_refused_without_loading_it(client: TestClient, db: Database) -> None:
    fields = {f"f{i}": "x" for i in range(500)}
    response = client.post("/login", data=fields)
    assert response.status_code == 400
