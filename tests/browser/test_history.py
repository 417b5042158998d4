"""The référente reads a section's history, compares two states, sees who wrote what and
restores an earlier version (the producteur who has the section open sees it happen live),
then names a version of the whole dossier."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from .conftest import LiveServer, accessibility_violations, screenshot
from .test_coediting import open_section

pytestmark = pytest.mark.browser
CLAIRE = "Ajout de Claire pour l'historique."


def test_the_referente_compares_reads_authors_and_restores(
    browser: Browser, live_server: LiveServer
) -> None:
    section = next(
        s for s in live_server.demo["sections"] if s["owners"] == ["producteur1@exemple.fr"]
    )
    karim = open_section(browser, live_server, "producteur1@exemple.fr", section["id"])
    claire = open_section(browser, live_server, "referente@exemple.fr", section["id"])

    # Claire adds a sentence; Karim sees it arrive.
    editor = claire.locator(".ProseMirror").first
    expect(editor).to_be_visible()
    expect(karim.locator(".ProseMirror").first).to_be_visible()
    editor.click()
    claire.keyboard.press("Control+End")
    claire.keyboard.type(" " + CLAIRE)
    expect(claire.locator(".save-status")).to_have_text("Enregistré")
    expect(karim.locator(".ProseMirror").first).to_contain_text(CLAIRE)

    # The history: Claire's session first, then Karim's (the demo's answers).
    claire.get_by_role("link", name="Historique de la section").click()
    expect(claire.get_by_role("heading", level=1)).to_have_text(section["titre"])
    sessions = claire.locator(".timeline__item")
    expect(sessions).to_have_count(2)
    expect(sessions.nth(0)).to_contain_text("Claire Dubois")
    expect(sessions.nth(1)).to_contain_text("Karim Benali")
    assert accessibility_violations(claire) == []
    screenshot(claire, "historique")

    # Compare Karim's version with now: Claire's sentence is marked as added.
    karims = claire.locator("#de option", has_text="Karim Benali").first.get_attribute("value")
    assert karims
    claire.get_by_label("De (état de départ)").select_option(karims)
    claire.get_by_label("À (état d'arrivée)").select_option("maintenant")
    claire.get_by_role("button", name="Comparer").click()
    expect(claire).to_have_url(re.compile(rf"/comparer\?de={karims}&a=maintenant$"))
    added = claire.locator(".diff ins")
    expect(added.first).to_contain_text("Ajout de Claire")
    expect(added.first).to_contain_text("ajouté :")  # said, not only shown in colour
    assert accessibility_violations(claire) == []
    screenshot(claire, "historique-comparaison")

    # Who wrote what: names, not colours.
    claire.get_by_role("navigation", name="Historique de la section").get_by_role(
        "link", name="Qui a écrit quoi ?"
    ).click()
    expect(claire.get_by_role("heading", level=1)).to_have_text("Qui a écrit quoi ?")
    expect(claire.locator(".passage__author", has_text="Karim Benali").first).to_be_visible()
    assert accessibility_violations(claire) == []
    screenshot(claire, "historique-auteurs")

    # Restore Karim's version.
    subnav = claire.get_by_role("navigation", name="Historique de la section")
    subnav.get_by_role("link", name="Historique", exact=True).click()
    sessions.nth(1).get_by_role("link", name=re.compile(r"^Voir cette version")).click()
    expect(claire.get_by_text("Vous consultez un état passé de la section")).to_be_visible()
    expect(claire.locator(".questions")).not_to_contain_text(CLAIRE)
    assert accessibility_violations(claire) == []
    claire.get_by_role("button", name="Restaurer cette version").click()
    expect(claire.get_by_role("status")).to_contain_text("La version est restaurée")

    # Karim's open editor follows at once, without reloading.
    expect(karim.locator(".ProseMirror").first).not_to_contain_text(CLAIRE)
    expect(karim.locator(".ProseMirror").first).to_contain_text("feuille de route")
    screenshot(karim, "historique-restauration-en-direct")

    # A named version of the whole dossier, from its overview.
    claire.goto(f"{live_server.url}/dossiers/{live_server.demo['dossier']}")
    claire.get_by_label("Nom de la version").fill("Après la restauration")
    claire.get_by_role("button", name="Enregistrer une version").click()
    expect(claire.get_by_text("La version est enregistrée")).to_be_visible()
    assert accessibility_violations(claire) == []
    for page in (karim, claire):
        page.context.close()
