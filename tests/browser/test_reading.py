"""A person logs in with the keyboard, opens their dossier and a section; every page is checked
with axe-core and screenshots are kept in tests/artefacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import DEMO_PASSWORD, LiveServer, accessibility_violations, screenshot

pytestmark = pytest.mark.browser


def log_in(page: Page, server: LiveServer, email: str) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/dossiers$"))


def test_login_then_open_a_section(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert accessibility_violations(page) == []
    screenshot(page, "login")
    # A short page in a tall window: its footer still ends the window, no bare band below it.
    viewport = page.viewport_size
    page.set_viewport_size({"width": 1280, "height": 1200})
    footer = page.locator(".site-footer").bounding_box()
    assert footer is not None and footer["y"] + footer["height"] == pytest.approx(1200, abs=1)
    if viewport:
        page.set_viewport_size(viewport)

    log_in(page, live_server, "producteur1@exemple.fr")
    expect(page.get_by_role("heading", name="Mes dossiers")).to_be_visible()
    assert accessibility_violations(page) == []

    page.get_by_role("link", name="Saint-Aubin-sur-Loire").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dossier de Saint-Aubin-sur-Loire")
    assert accessibility_violations(page) == []
    screenshot(page, "dossier")

    mine = [s for s in live_server.demo["sections"] if "producteur1@exemple.fr" in s["owners"]]
    page.get_by_role("link", name=mine[0]["titre"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(mine[0]["titre"])
    expect(page.get_by_text("Vous pouvez rédiger cette section")).to_be_visible()
    assert accessibility_violations(page) == []
    screenshot(page, "section")


def test_filter_my_sections_with_htmx(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "producteur2@exemple.fr")
    page.goto(f"{live_server.url}/dossiers/{live_server.demo['dossier']}")
    rows = page.locator("#sections tbody tr")
    expect(rows).to_have_count(12)
    page.get_by_role("link", name=re.compile(r"^Mes sections")).click()
    mine = [s for s in live_server.demo["sections"] if "producteur2@exemple.fr" in s["owners"]]
    expect(rows).to_have_count(len(mine))
    expect(page).to_have_url(re.compile(r"filtre=mes-sections"))
    assert accessibility_violations(page) == []


def test_keyboard_only_login_and_visible_focus(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/login")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0  # type: ignore[index]  # shown when focused
    outline = skip.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none"
    page.get_by_label("Adresse e-mail").focus()
    page.keyboard.type("relecteur@exemple.fr")
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dossiers$"))


def test_wrong_password_shows_an_accessible_error_summary(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.url + "/login")
    page.get_by_label("Adresse e-mail").fill("referente@exemple.fr")
    page.get_by_label("Mot de passe").fill("pas le bon")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_contain_text("Adresse e-mail ou mot de passe incorrect.")
    expect(page).to_have_title(re.compile(r"^Erreur"))
    assert accessibility_violations(page) == []


def test_other_pages_are_accessible(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/mot-de-passe-oublie")
    assert accessibility_violations(page) == []
    log_in(page, live_server, "relecteur@exemple.fr")
    response = page.goto(live_server.url + "/sections/99999")
    assert response is not None and response.status == 404
    assert accessibility_violations(page) == []
    page.goto(live_server.url + "/accessibilite")
    assert accessibility_violations(page) == []
    page.goto(f"{live_server.url}/dossiers/{live_server.demo['dossier']}/equipe")
    assert accessibility_violations(page) == []


def test_admin_and_assignment_pages_are_accessible(page: Page, live_server: LiveServer) -> None:
    log_in(page, live_server, "admin@exemple.fr")
    for path in ("/admin/comptes", "/admin/courriels"):
        page.goto(live_server.url + path)
        assert accessibility_violations(page) == [], path
    page.get_by_role("button", name="Se déconnecter").click()
    log_in(page, live_server, "referente@exemple.fr")
    page.goto(f"{live_server.url}/dossiers/{live_server.demo['dossier']}/attributions")
    assert accessibility_violations(page) == []
    screenshot(page, "attributions")
