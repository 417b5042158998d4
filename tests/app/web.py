"""Helpers for driving the app over HTTP in tests."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from app.auth.sessions import COOKIE_NAME

from .factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert client.cookies.get(COOKIE_NAME)


def csrf(client: TestClient, page: str = "/dossiers") -> str:
    match = _CSRF.search(client.get(page).text)
    assert match, "no CSRF token on the page"
    return match.group(1)
