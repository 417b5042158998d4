"""Two producteurs type into the same question at once and see each other; a relecteur follows
live but cannot type; « Enregistré » comes from the server's durable acknowledgement. Each sees the
other's caret and selection where they are, labelled with the name the server stamped from the
account (not the one the other browser claims), and the caret goes when its owner leaves."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from app.collab_store import PALETTE

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


# Where each remote caret of a rich-text answer stands: its label, the text of its block before and
# after it (the label itself lives inside the caret, so ranges that stop at its edges leave it out),
# its bar's colour and its label's colours as the browser computed them.
CARETS_JS = """(key) => {
  const root = document.querySelector(`.question-editor[data-key="${key}"] .ProseMirror`)
  return [...root.querySelectorAll('.editor__caret')].map((caret) => {
    const block = caret.closest('p, h3, h4, h5, li')
    const before = document.createRange()
    before.setStart(block, 0)
    before.setEndBefore(caret)
    const after = document.createRange()
    after.setStartAfter(caret)
    after.setEnd(block, block.childNodes.length)
    const label = caret.querySelector('.editor__caret-label')
    const style = label ? getComputedStyle(label) : null
    return {
      label: label ? label.textContent : null,
      before: before.toString(),
      after: after.toString(),
      bar: getComputedStyle(caret).borderLeftColor,
      ink: style && style.color,
      background: style && style.backgroundColor,
      visible: Boolean(label) && label.getBoundingClientRect().width > 0
    }
  })
}"""

SELECTED_JS = """(key) => [...document.querySelectorAll(
  `.question-editor[data-key="${key}"] .ProseMirror .editor__selection`)]
  .map((s) => s.textContent).join('')"""


def rgb(colour: str) -> tuple[int, int, int]:
    if colour.startswith("#"):
        return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
    r, g, b = (int(x) for x in re.findall(r"\d+", colour)[:3])
    return (r, g, b)


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    def luminance(c: tuple[int, int, int]) -> float:
        lin = [v / 255 / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def remote_carets(page: Page, key: str) -> list[dict[str, Any]]:
    carets: list[dict[str, Any]] = page.evaluate(CARETS_JS, key)
    return carets


def test_a_producteurs_caret_and_selection_show_on_the_other_page_with_the_stamped_name(
    browser: Browser, live_server: LiveServer, pages: list[Page]
) -> None:
    shared = next(s for s in live_server.demo["sections"] if len(s["owners"]) == 2)
    karim = open_section(browser, live_server, "producteur1@exemple.fr", shared["id"])
    pages.append(karim)
    sophie = open_section(browser, live_server, "producteur2@exemple.fr", shared["id"])
    pages.append(sophie)
    question = karim.locator('.question-editor[data-type="texte"]').first
    key = question.get_attribute("data-key")
    assert key
    text = question.locator(".ProseMirror")
    expect(text).to_be_visible()
    expect(sophie.locator(f'.question-editor[data-key="{key}"] .ProseMirror')).to_be_visible()
    expect(sophie.locator(".presence")).to_contain_text("Karim Benali")
    # Karim's browser claims another name and colour: what Sophie sees must still be his account's.
    karim.evaluate(
        """() => window.arobaseEditor.provider.awareness.setLocalStateField(
             'user', { name: 'Imposteur', color: '#ff00ff' })"""
    )

    text.click()
    karim.keyboard.press("Control+End")
    karim.keyboard.press("Enter")
    karim.keyboard.type("Alpha Bravo Charlie")
    karim.keyboard.press("Home")
    for _ in range(len("Alpha")):
        karim.keyboard.press("ArrowRight")

    def caret_is(before: str, after: str) -> None:
        def check() -> None:
            carets = remote_carets(sophie, key)
            assert [(c["label"], c["before"], c["after"]) for c in carets] == [
                ("Karim Benali", before, after)
            ]

        # The awareness update travels Karim → server → Sophie: wait for it, with a deadline.
        expect_true(sophie, check)

    caret_is("Alpha", " Bravo Charlie")
    [caret] = remote_carets(sophie, key)
    colour = rgb(PALETTE[live_server.demo["users"]["producteur1@exemple.fr"] % len(PALETTE)])
    assert rgb(caret["bar"]) == colour  # the account's colour, stamped by the server
    assert rgb(caret["background"]) == colour
    assert caret["visible"]
    # The name is printed on the colour: RGAA 3.2 asks 4.5:1 for text this small.
    assert contrast(rgb(caret["ink"]), rgb(caret["background"])) >= 4.5
    screenshot(sophie, "curseur-nomme")

    karim.keyboard.press("End")
    caret_is("Alpha Bravo Charlie", "")
    karim.keyboard.press("Shift+Home")
    caret_is("", "Alpha Bravo Charlie")
    expect_true(sophie, lambda: _selected_is(sophie, key, "Alpha Bravo Charlie"))
    screenshot(sophie, "selection-nommee")

    karim.context.close()
    pages.remove(karim)
    # Gone at once (the server announces it), not after the 30 s awareness timeout.
    expect(sophie.locator(".editor__caret")).to_have_count(0)
    expect(sophie.locator(".editor__selection")).to_have_count(0)
    expect(sophie.locator(".presence")).not_to_contain_text("Karim Benali")


def _selected_is(page: Page, key: str, expected: str) -> None:
    assert page.evaluate(SELECTED_JS, key) == expected


def expect_true(page: Page, check: Any, timeout_ms: int = 5000) -> None:
    """Run `check` until it stops raising AssertionError, for at most `timeout_ms`."""
    deadline = page.evaluate("() => performance.now()") + timeout_ms
    while True:
        try:
            check()
            return
        except AssertionError:
            if page.evaluate("() => performance.now()") > deadline:
                raise
            page.wait_for_timeout(50)
