"""The référent invites a producteur with two sections; the producteur follows the mailed link,
creates an account, lands on « mes sections » and can read, but not write, the others."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import LiveServer, accessibility_violations, screenshot
from .test_reading import log_in

pytestmark = pytest.mark.browser


def test_invite_a_producteur_who_joins(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    sections = live_server.demo["sections"]
    chosen = [sections[9], sections[10]]
    log_in(page, live_server, "referente@exemple.fr")
    page.goto(f"{live_server.url}/dossiers/{live_server.demo['dossier']}")
    page.get_by_role("link", name="Gérer l'équipe et les invitations").click()
    expect(page.get_by_role("heading", name="Inviter des personnes")).to_be_visible()
    assert accessibility_violations(page) == []
    page.get_by_label("Adresses e-mail").fill("camille.nouvelle@exemple.fr")
    page.get_by_label(re.compile("^Producteur·rice")).check()
    for section in chosen:
        page.get_by_label(section["titre"], exact=True).check()
    page.get_by_label("Message personnel").fill("Bienvenue dans l'équipe !")
    page.get_by_role("button", name="Envoyer les invitations").click()
    expect(page.get_by_role("status")).to_contain_text("Les invitations ont été envoyées.")
    expect(page.get_by_role("rowheader", name="camille.nouvelle@exemple.fr")).to_be_visible()
    screenshot(page, "equipe")

    (message,) = live_server.smtp.wait_for("camille.nouvelle@exemple.fr")
    body = message.get_content()
    assert "Claire Dubois" in body and "producteur·rice" in body
    link = re.search(r"http://\S+/invitations/\S+", body)
    assert link is not None

    newcomer = browser.new_context(locale="fr-FR", bypass_csp=True).new_page()
    newcomer.goto(link.group(0))
    expect(newcomer.get_by_role("heading", level=1)).to_contain_text("Invitation au dossier")
    assert accessibility_violations(newcomer) == []
    newcomer.get_by_label("Votre nom").fill("Camille Nouvelle")
    newcomer.get_by_label("Mot de passe", exact=False).first.fill("un mot de passe solide")
    newcomer.get_by_label("Confirmez le mot de passe").fill("un mot de passe solide")
    newcomer.get_by_role("button", name="Créer mon compte et accepter").click()
    expect(newcomer).to_have_url(re.compile(r"filtre=mes-sections$"))
    rows = newcomer.locator("#sections tbody tr")
    expect(rows).to_have_count(2)
    for section in chosen:
        expect(rows.get_by_role("link", name=section["titre"], exact=True)).to_be_visible()
    screenshot(newcomer, "mes-sections")

    newcomer.get_by_role("link", name=chosen[0]["titre"], exact=True).click()
    expect(newcomer.get_by_text("Vous pouvez rédiger cette section")).to_be_visible()
    newcomer.goto(f"{live_server.url}/sections/{sections[0]['id']}")
    expect(newcomer.get_by_role("heading", level=1)).to_have_text(sections[0]["titre"])
    expect(newcomer.locator("dd", has_text="Lecture seule")).to_be_visible()
    newcomer.context.close()
