"""« Se connecter avec ProConnect » against a real OpenID Connect provider on loopback.

The provider is `oidc-provider-mock` (authlib's authorization server) in a thread: the app
fetches its discovery document, redeems codes at its token endpoint, checks ID tokens
against its JWKS and reads its userinfo endpoint over real HTTP. The tests play the browser:
they carry the app's redirect to the provider, approve (or deny) there as a given user, and
bring the provider's redirect back to the app's callback.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_provider_mock import User as ProviderUser
from oidc_provider_mock import run_server_in_thread
from sqlmodel import select
from starlette.testclient import TestClient

from app.auth.oidc import STATE_COOKIE
from app.auth.sessions import COOKIE_NAME
from app.db import Database
from app.main import create_app
from app.models import AuditEvent, User, UserSession
from app.settings import Settings

from ..conftest import make_settings
from .factories import PASSWORD, user
from .web import csrf

BASE_URL = "http://127.0.0.1:8000"
CALLBACK = f"{BASE_URL}/auth/oidc/callback"
# The mock releases `given_name` only under the standard `profile` scope (ProConnect has a
# `given_name` scope of its own); `usual_name`, `uid` and `siret` are released as they are.
SCOPES = "openid email profile given_name usual_name uid siret"

ANNE = ProviderUser(
    sub="anne",
    claims={
        "email": "Anne.Martin@Mairie-Testville.fr",
        "given_name": "Anne",
        "usual_name": "Martin",
        "uid": "proconnect-uid-anne",
        "siret": "21990001900016",
    },
)
CLAIRE = ProviderUser(
    sub="claire",
    claims={"email": "claire@test.fr", "given_name": "Claire", "usual_name": "Dupont"},
)


@dataclass
class Oidc:
    """The provider, the app configured to use it, and a database view of the app's store."""

    issuer: str
    provider: httpx.Client
    settings: Settings
    db: Database

    def app_client(self) -> TestClient:
        return TestClient(create_app(self.settings), base_url=BASE_URL)


@contextmanager
def running_provider(sqlite_url: str) -> Iterator[Oidc]:
    with run_server_in_thread(require_nonce=True, user_claims=[ANNE, CLAIRE]) as server:
        issuer = f"http://localhost:{server.server_port}"
        settings = make_settings(
            sqlite_url,
            oidc_issuer=issuer,
            oidc_client_id="arobase",
            oidc_client_secret="secret",
            oidc_scopes=SCOPES,
        )
        database = Database(sqlite_url)
        try:
            with httpx.Client(base_url=issuer, follow_redirects=False, timeout=10) as provider:
                yield Oidc(issuer, provider, settings, database)
        finally:
            database.dispose()


@pytest.fixture
def oidc(sqlite_url: str) -> Iterator[Oidc]:
    with running_provider(sqlite_url) as oidc:
        yield oidc


@pytest.fixture
def client(oidc: Oidc) -> Iterator[TestClient]:
    with oidc.app_client() as client:
        yield client


def start_login(client: TestClient, next_url: str = "/dossiers") -> str:
    """GET /auth/oidc/login: the provider's authorize URL the browser is sent to."""
    response = client.get("/auth/oidc/login", params={"next": next_url}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert client.cookies.get(STATE_COOKIE)
    return response.headers["location"]


def approve(oidc: Oidc, authorize_url: str, sub: str) -> str:
    """Approve the authorization request at the provider as `sub`: the app's callback path."""
    assert authorize_url.startswith(f"{oidc.issuer}/oauth2/authorize?")
    response = oidc.provider.post(authorize_url, data={"sub": sub})
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return f"{location.path}?{location.query}"


def login(oidc: Oidc, client: TestClient, sub: str, next_url: str = "/dossiers") -> None:
    callback = approve(oidc, start_login(client, next_url), sub)
    response = client.get(callback, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == next_url
    assert client.cookies.get(COOKIE_NAME)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def state_cookie(client: TestClient) -> dict[str, Any]:
    """The payload of the (signed, not encrypted) state cookie."""
    body = client.cookies[STATE_COOKIE].rsplit(".", 1)[0]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return payload


def put_state_cookie(client: TestClient, value: str) -> None:
    """Replace the state cookie as the app set it (same domain and path)."""
    client.cookies.set(STATE_COOKIE, value, domain="127.0.0.1", path="/auth/oidc")


def users(oidc: Oidc) -> list[User]:
    with oidc.db.session() as session:
        return list(session.exec(select(User)))


def events(oidc: Oidc, kind: str) -> list[AuditEvent]:
    with oidc.db.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.kind == kind)))


def assert_refused(response: httpx2.Response, client: TestClient, oidc: Oidc) -> None:
    """The callback's error page (TestClient runs on httpx2), and no session anywhere."""
    assert response.status_code == 400, response.text
    assert "Connexion impossible" in response.text
    assert COOKIE_NAME not in response.headers.get("set-cookie", "")
    assert COOKIE_NAME not in client.cookies
    assert client.get("/dossiers", follow_redirects=False).status_code == 303
    with oidc.db.session() as session:
        assert session.exec(select(UserSession)).all() == []


# -- Logging in ------------------------------------------------------------------------------


def test_login_creates_the_account_from_the_claims(oidc: Oidc, client: TestClient) -> None:
    login(oidc, client, "anne", next_url="/dossiers/42")
    assert client.get("/dossiers", follow_redirects=False).status_code == 200
    (anne,) = users(oidc)
    assert anne.email == "anne.martin@mairie-testville.fr"
    assert anne.name == "Anne Martin"
    assert anne.siret == "21990001900016"
    assert (anne.oidc_issuer, anne.oidc_subject) == (oidc.issuer, "proconnect-uid-anne")
    assert anne.password_hash is None
    (created,) = events(oidc, "user.create")
    assert created.data == {"method": "oidc"} and created.target == f"user:{anne.id}"
    (logged_in,) = events(oidc, "auth.login")
    assert logged_in.data == {"method": "oidc"} and logged_in.actor_id == anne.id
    # The state cookie is single-use: the callback clears it.
    assert STATE_COOKIE not in client.cookies


def test_a_second_login_finds_the_account_by_subject_and_refreshes_it(
    oidc: Oidc, client: TestClient
) -> None:
    login(oidc, client, "anne")
    (first,) = users(oidc)
    # At the provider, Anne changes her name and her e-mail; her `uid` stays.
    response = oidc.provider.put(
        "/users/anne",
        json={**ANNE.claims, "email": "anne.durand@mairie-testville.fr", "usual_name": "Durand"},
    )
    assert response.status_code == 204
    with oidc.app_client() as other_browser:
        login(oidc, other_browser, "anne")
    (again,) = users(oidc)
    assert again.id == first.id
    assert again.name == "Anne Durand"
    assert len(events(oidc, "user.create")) == 1
    assert len(events(oidc, "auth.login")) == 2


def test_login_attaches_the_identity_to_the_password_account_with_that_email(
    oidc: Oidc, client: TestClient
) -> None:
    with oidc.db.session() as session:
        claire_id = user(session, "claire@test.fr", "C. Dupont").id
    login(oidc, client, "claire")
    (claire,) = users(oidc)
    assert claire.id == claire_id
    assert claire.name == "Claire Dupont"
    # No `uid` claim: the subject is `sub`.
    assert (claire.oidc_issuer, claire.oidc_subject) == (oidc.issuer, "claire")
    assert claire.password_hash is not None  # the password still works too
    (created,) = events(oidc, "user.create")  # by the factory, not by the login
    assert created.data.get("method") != "oidc"
    client.cookies.clear()
    response = client.post(
        "/login", data={"email": "claire@test.fr", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303


def test_the_authorization_request_uses_pkce_a_nonce_and_a_state(
    oidc: Oidc, client: TestClient
) -> None:
    url = start_login(client)
    params = query(url)
    pending = state_cookie(client)
    assert params["response_type"] == "code"
    assert params["client_id"] == "arobase"
    assert params["redirect_uri"] == CALLBACK
    assert params["scope"].split() == SCOPES.split()
    assert params["state"] == pending["state"] and len(params["state"]) >= 32
    assert params["nonce"] == pending["nonce"] and len(params["nonce"]) >= 32
    assert params["nonce"] != params["state"]
    assert params["code_challenge_method"] == "S256"
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    # Each login gets fresh values.
    again = query(start_login(client))
    for name in ("state", "nonce", "code_challenge"):
        assert again[name] != params[name]
    # The state cookie is confined to the OIDC paths and not readable by scripts.
    response = client.get("/auth/oidc/login", follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "Path=/auth/oidc" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_an_unsafe_next_is_replaced_by_the_home_page(oidc: Oidc, client: TestClient) -> None:
    callback = approve(oidc, start_login(client, "//evil.example/phish"), "anne")
    response = client.get(callback, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dossiers"


# -- Refusals --------------------------------------------------------------------------------


def test_a_callback_with_another_state_is_refused(oidc: Oidc, client: TestClient) -> None:
    callback = approve(oidc, start_login(client), "anne")
    params = query(callback)
    params["state"] = params["state"][::-1]
    response = client.get(f"/auth/oidc/callback?{urlencode(params)}", follow_redirects=False)
    assert_refused(response, client, oidc)
    assert "paramètre state" in response.text
    (failed,) = events(oidc, "auth.login_failed")
    assert failed.target == "oidc" and "state" in failed.data["reason"]
    assert users(oidc) == []


def test_a_callback_without_the_state_cookie_is_refused(oidc: Oidc, client: TestClient) -> None:
    callback = approve(oidc, start_login(client), "anne")
    # Another browser (an attacker's victim, say) lands on the callback URL.
    with oidc.app_client() as other_browser:
        response = other_browser.get(callback, follow_redirects=False)
        assert_refused(response, other_browser, oidc)
    assert len(events(oidc, "auth.login_failed")) == 1
    assert users(oidc) == []


def test_a_forged_state_cookie_is_refused(oidc: Oidc, client: TestClient) -> None:
    url = start_login(client)
    # Rewrite the nonce in the cookie (as if to match another ID token) and keep the MAC.
    body, mac = client.cookies[STATE_COOKIE].rsplit(".", 1)
    payload = {**state_cookie(client), "nonce": "chosen-by-the-attacker"}
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    assert forged != body
    put_state_cookie(client, f"{forged}.{mac}")
    response = client.get(approve(oidc, url, "anne"), follow_redirects=False)
    assert_refused(response, client, oidc)
    assert "expiré" in response.text


def test_an_id_token_issued_for_another_nonce_is_refused(oidc: Oidc, client: TestClient) -> None:
    """A code injected from another authorization request: right state and PKCE, wrong nonce."""
    params = query(start_login(client))
    params["nonce"] = "nonce-of-another-authorization-request"
    callback = approve(oidc, f"{oidc.issuer}/oauth2/authorize?{urlencode(params)}", "anne")
    response = client.get(callback, follow_redirects=False)
    assert_refused(response, client, oidc)
    assert "nonce" in response.text
    (failed,) = events(oidc, "auth.login_failed")
    assert "nonce" in failed.data["reason"]
    assert users(oidc) == []


def test_a_code_obtained_for_another_login_is_refused(oidc: Oidc, client: TestClient) -> None:
    """The first login's state cookie with the code of a second login (another nonce).

    The app also sends that login's PKCE verifier, but the mock provider does not check PKCE
    (see the test of the authorization request): here the nonce is what refuses the code.
    """
    first = start_login(client)
    first_cookie = client.cookies[STATE_COOKIE]
    second = start_login(client)
    assert query(second)["nonce"] != query(first)["nonce"]
    code = query(approve(oidc, second, "anne"))["code"]
    put_state_cookie(client, first_cookie)
    response = client.get(
        "/auth/oidc/callback",
        params={"code": code, "state": query(first)["state"]},
        follow_redirects=False,
    )
    assert_refused(response, client, oidc)
    (failed,) = events(oidc, "auth.login_failed")
    assert "nonce" in failed.data["reason"]
    assert users(oidc) == []


def test_a_replayed_callback_is_refused(oidc: Oidc, client: TestClient) -> None:
    """The provider redeems a code once: replaying the callback URL opens no second session."""
    url = start_login(client)
    cookie = client.cookies[STATE_COOKIE]
    callback = approve(oidc, url, "anne")
    assert client.get(callback, follow_redirects=False).status_code == 303
    # Someone who saw the callback URL and the state cookie replays them.
    with oidc.app_client() as attacker:
        put_state_cookie(attacker, cookie)
        response = attacker.get(callback, follow_redirects=False)
        assert response.status_code == 400, response.text
        assert "Connexion impossible" in response.text
        assert COOKIE_NAME not in attacker.cookies
    with oidc.db.session() as session:
        assert len(session.exec(select(UserSession)).all()) == 1
    assert len(events(oidc, "auth.login_failed")) == 1


def test_a_provider_gone_during_the_login_gives_the_error_page(sqlite_url: str) -> None:
    with running_provider(sqlite_url) as oidc:
        app = create_app(oidc.settings)
        with TestClient(app, base_url=BASE_URL) as client:
            callback = approve(oidc, start_login(client), "anne")
            state = client.cookies[STATE_COOKIE]
    # The provider has stopped when the browser comes back: the code cannot be redeemed.
    with TestClient(app, base_url=BASE_URL) as client:
        put_state_cookie(client, state)
        response = client.get(callback, follow_redirects=False)
    assert response.status_code == 400, response.text
    assert "Connexion impossible" in response.text
    assert "a refusé la connexion" in response.text
    assert COOKIE_NAME not in response.headers.get("set-cookie", "")


def test_a_denied_authorization_is_refused(oidc: Oidc, client: TestClient) -> None:
    url = start_login(client)
    response = oidc.provider.post(url, data={"action": "deny"})
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert query(response.headers["location"])["error"] == "access_denied"
    response = client.get(f"{location.path}?{location.query}", follow_redirects=False)
    assert_refused(response, client, oidc)
    assert "annulée ou refusée" in response.text
    assert users(oidc) == []


def test_a_disabled_account_cannot_log_in(oidc: Oidc, client: TestClient) -> None:
    with oidc.db.session() as session:
        claire = user(session, "claire@test.fr", "Claire")
        claire.is_active = False
        session.add(claire)
    response = client.get(approve(oidc, start_login(client), "claire"), follow_redirects=False)
    assert response.status_code == 403, response.text
    assert "désactivé" in response.text
    assert COOKIE_NAME not in client.cookies
    (claire,) = users(oidc)
    assert claire.oidc_subject is None  # the refused login changed nothing
    with oidc.db.session() as session:
        assert session.exec(select(UserSession)).all() == []


# -- Logging out -----------------------------------------------------------------------------


def test_logout_ends_the_session_here_and_at_the_provider(oidc: Oidc, client: TestClient) -> None:
    login(oidc, client, "anne")
    token = client.cookies[COOKIE_NAME]
    with oidc.db.session() as session:
        (row,) = session.exec(select(UserSession)).all()
    # The session keeps the ID token the provider signed for this login.
    assert row.oidc_id_token
    keys = KeySet.import_key_set(oidc.provider.get("/jwks").json())
    claims = jwt.decode(row.oidc_id_token, keys).claims
    assert (claims["iss"], claims["aud"], claims["sub"]) == (oidc.issuer, ["arobase"], "anne")
    response = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{oidc.issuer}/oauth2/end_session?")
    params = query(location)
    assert params["id_token_hint"] == row.oidc_id_token
    assert params["post_logout_redirect_uri"] == f"{BASE_URL}/login?deconnecte=1"
    assert params["state"]
    # The local session is over, even if the browser kept the old cookie.
    assert COOKIE_NAME not in client.cookies
    with oidc.db.session() as session:
        (row,) = session.exec(select(UserSession)).all()
    assert row.revoked_at is not None
    client.cookies.set(COOKIE_NAME, token)
    assert client.get("/dossiers", follow_redirects=False).status_code == 303
    # The provider accepts the request and sends the browser back to the login page.
    assert oidc.provider.get(location).status_code == 200
    response = oidc.provider.post(
        "/oauth2/end_session/confirm",
        data={"redirect_uri": f"{params['post_logout_redirect_uri']}&state={params['state']}"},
    )
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{BASE_URL}/login?deconnecte=1")


def test_logout_of_a_password_session_stays_on_the_site(oidc: Oidc, client: TestClient) -> None:
    with oidc.db.session() as session:
        user(session, "claire@test.fr", "Claire")
    response = client.post(
        "/login", data={"email": "claire@test.fr", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    response = client.post("/logout", data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?deconnecte=1"


# -- Configuration ---------------------------------------------------------------------------


def test_the_login_page_offers_proconnect_only_when_configured(
    oidc: Oidc, client: TestClient, sqlite_url: str
) -> None:
    page = client.get("/login?next=/dossiers/7")
    assert page.status_code == 200
    assert "Se connecter avec ProConnect" in page.text
    assert 'href="/auth/oidc/login?next=/dossiers/7"' in page.text
    with TestClient(create_app(make_settings(sqlite_url)), base_url=BASE_URL) as plain:
        page = plain.get("/login")
    assert page.status_code == 200
    assert "ProConnect" not in page.text


@pytest.mark.parametrize("path", ["/auth/oidc/login", "/auth/oidc/callback?code=x&state=y"])
def test_the_oidc_routes_do_not_exist_when_not_configured(sqlite_url: str, path: str) -> None:
    with TestClient(create_app(make_settings(sqlite_url)), base_url=BASE_URL) as plain:
        response = plain.get(path, follow_redirects=False)
    assert response.status_code == 404
    assert STATE_COOKIE not in response.headers.get("set-cookie", "")


def test_the_csp_lets_the_logout_form_lead_to_the_provider(oidc: Oidc, client: TestClient) -> None:
    # Browsers apply form-action to the redirects that follow a form submission.
    policy = client.get("/login").headers["content-security-policy"]
    assert f"form-action 'self' {oidc.issuer};" in policy
