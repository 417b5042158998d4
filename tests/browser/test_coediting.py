"""Two producteurs type into the same question at once and see each other; a relecteur follows
live but cannot type; « Enregistré » comes from the server's durable acknowledgement."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import DEMO_PASSWORD, LiveServer, accessibility_violations, screenshot

pytestmark = pytest.mark.browser


def open_section(browser: Browser, server: LiveServer, email: str, section_id: int) -> Page:
    page = browser.new_context(locale="fr-FR", bypass_csp=True).new_page()
    page.goto(server.url + "/login")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(re.compile(r"/dossiers$"))
    page.goto(f"{server.url}/sections/{section_id}")
    return page


def test_two_producteurs_coedit_and_a_relecteur_follows(
    browser: Browser, live_server: LiveServer
) -> None:
    shared = next(s for s in live_server.demo["sections"] if len(s["owners"]) == 2)
    karim = open_section(browser, live_server, "producteur1@exemple.fr", shared["id"])
    sophie = open_section(browser, live_server, "producteur2@exemple.fr", shared["id"])
    marc = open_section(browser, live_server, "relecteur@exemple.fr", shared["id"])

    editors = [page.locator(".ProseMirror").first for page in (karim, sophie)]
    for editor in editors:
        expect(editor).to_be_visible()
    expect(karim.locator(".presence")).to_contain_text("Sophie Lefèvre")
    expect(sophie.locator(".presence")).to_contain_text("Karim Benali")
    expect(karim.locator(".presence")).to_contain_text("Marc Rousseau")

    editors[0].click()
    karim.keyboard.press("Control+End")
    editors[1].click()
    sophie.keyboard.press("Control+End")
    for a, b in zip("Karim ici. ", "Sophie là. ", strict=False):
        karim.keyboard.type(a)
        sophie.keyboard.type(b)
    # Each caret keeps its own place: both runs arrive whole, in every browser, the reader's too.
    for page in (karim, sophie, marc):
        text = page.locator(".ProseMirror").first
        expect(text).to_contain_text("Karim ici.")
        expect(text).to_contain_text("Sophie là.")
    expect(karim.locator(".save-status")).to_have_text("Enregistré")
    expect(sophie.locator(".save-status")).to_have_text("Enregistré")
    screenshot(karim, "coedition")

    reader = marc.locator(".ProseMirror").first
    expect(reader).to_have_attribute("contenteditable", "false")
    expect(marc.locator(".save-status")).to_have_text("Lecture seule")
    before = reader.inner_text()
    reader.click()
    marc.keyboard.type("Intrusion")
    marc.wait_for_timeout(300)
    expect(karim.locator(".ProseMirror").first).not_to_contain_text("Intrusion")
    assert reader.inner_text() == before
    assert accessibility_violations(karim) == []
    for page in (karim, sophie, marc):
        page.context.close()
