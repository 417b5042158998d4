"""A producteur formats a rich-text answer with the keyboard alone: Tab reaches the formatting
toolbar (one Tab stop, arrow keys inside, as the WAI-ARIA toolbar pattern has it), every button
shows a visible focus indicator and its state (aria-pressed), and bold, a heading, a bulleted list
and a link typed that way reach the server: its read view renders them after a reload. axe-core
then checks the page with the editor loaded (RGAA 4 asks WCAG 2.1 A and AA)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from ..conftest import ARTEFACTS
from .conftest import LiveServer, accessibility_violations, screenshot
from .test_coediting import open_section

pytestmark = pytest.mark.browser

BUTTONS = [
    "Gras",
    "Italique",
    "Titre",
    "Sous-titre",
    "Liste à puces",
    "Liste numérotée",
    "Lien",
]
LINK = "https://syndicat-numerique.fr"
# What the keyboard session below writes, as the server renders it (headings one level down, under
# the question's <h2>; links get their rel from the sanitiser).
SAVED_HTML = (
    "<h3>Notre mutualisation</h3>"
    "<p>Un syndicat <strong>mixte</strong> porte nos outils.</p>"
    "<ul><li><p>Premier outil partagé</p></li></ul>"
    f'<p><a href="{LINK}" rel="noopener noreferrer nofollow">le site du syndicat</a></p>'
)

# How the focused element is drawn: the site draws focus as a 3 px outline and a halo.
FOCUS_STYLE_JS = """(el) => {
  const s = getComputedStyle(el)
  return { focusVisible: el.matches(':focus-visible'), outline: s.outlineStyle,
           width: parseFloat(s.outlineWidth), shadow: s.boxShadow }
}"""

# The server's read view of one answer, from the page HTML the server renders.
READ_VIEW_JS = """([html, key]) => {
  const page = new DOMParser().parseFromString(html, 'text/html')
  const view = page.querySelector(`.question-editor[data-key="${key}"] > .answer`)
  return view ? view.innerHTML.trim() : null
}"""


def press(page: Page, key: str, times: int = 1) -> None:
    for _ in range(times):
        page.keyboard.press(key)


def tab_into(page: Page, toolbar: Locator, limit: int = 80) -> None:
    """Press Tab from where the focus is until it lands in `toolbar`, as a keyboard user does."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if toolbar.evaluate("(bar) => bar.contains(document.activeElement)"):
            return
    raise AssertionError(f"the toolbar was not reached in {limit} Tab presses")


def focus_style(locator: Locator) -> dict[str, Any]:
    style: dict[str, Any] = locator.evaluate(FOCUS_STYLE_JS)
    return style


def assert_focus_visible(button: Locator, other: Locator) -> None:
    """`button` has the focus and shows it; `other`, not focused, has no outline: the outline is
    the focus indicator (RGAA 10.7), not a border every button wears."""
    expect(button).to_be_focused()
    shown = focus_style(button)
    assert shown["focusVisible"], shown
    # Chromium's own ring (auto, 1 px) would pass "not none", and the yellow halo alone is pale on
    # the toolbar's grey: ask for the site's dark outline, the part of the indicator with contrast.
    assert shown["outline"] != "none" and shown["width"] >= 2, shown
    assert focus_style(other)["outline"] == "none"


def assert_roving(buttons: list[Locator], current: int) -> None:
    """One Tab stop for the whole toolbar: only the current button is in the Tab order."""
    stops = [b.get_attribute("tabindex") for b in buttons]
    assert stops == ["0" if i == current else "-1" for i in range(len(buttons))], stops


def test_a_producteur_formats_an_answer_with_the_keyboard_and_it_is_saved(
    browser: Browser, live_server: LiveServer, pages: list[Page]
) -> None:
    # Karim's « Démocratie » section has a rich-text question nobody has answered yet.
    section = next(s for s in live_server.demo["sections"] if s["theme"] == "democratie")
    assert section["owners"] == ["producteur1@exemple.fr"]
    karim = open_section(browser, live_server, "producteur1@exemple.fr", section["id"])
    pages.append(karim)
    # Its whole answer is then what the keyboard session below types.
    empty = karim.locator('.question-editor[data-type="texte"]:has(> .answer--empty)').first
    key = empty.get_attribute("data-key")
    assert key
    question = karim.locator(f'.question-editor[data-key="{key}"]')
    editor = question.locator(".ProseMirror")
    expect(editor).to_be_visible()
    toolbar = question.get_by_role("toolbar")
    expect(toolbar).to_have_attribute("aria-label", re.compile(r"^Mise en forme : \d+\. "))
    buttons = [toolbar.get_by_role("button", name=name, exact=True) for name in BUTTONS]
    bold, _, title, _, bullets, _, link = buttons

    # Tab reaches the toolbar on its first button; the arrows then visit each one, focus shown.
    tab_into(karim, toolbar)
    for index, button in enumerate(buttons):
        if index:
            karim.keyboard.press("ArrowRight")
        assert_focus_visible(button, buttons[index - 1])
        assert_roving(buttons, index)
        expect(button).to_have_attribute("aria-pressed", "false")
    karim.keyboard.press("ArrowRight")  # wraps round
    assert_focus_visible(bold, link)
    karim.keyboard.press("End")
    expect(link).to_be_focused()
    karim.keyboard.press("Home")
    expect(bold).to_be_focused()
    screenshot(karim, "barre-outils-page")
    question.locator("xpath=ancestor::section[1]").screenshot(
        path=ARTEFACTS / "barre-outils-focus.png"
    )

    # « Titre » on the empty answer; Enter leaves the focus on the button, which says it is on.
    press(karim, "ArrowRight", 2)
    expect(title).to_be_focused()
    karim.keyboard.press("Enter")
    expect(title).to_have_attribute("aria-pressed", "true")
    expect(title).to_be_focused()
    karim.keyboard.press("Tab")
    expect(editor).to_be_focused()
    karim.keyboard.type("Notre mutualisation")

    # Bold on a word selected with the keyboard.
    karim.keyboard.press("Enter")
    karim.keyboard.type("Un syndicat mixte porte nos outils.")
    karim.keyboard.press("Home")
    press(karim, "ArrowRight", len("Un syndicat "))
    press(karim, "Shift+ArrowRight", len("mixte"))
    expect(title).to_have_attribute("aria-pressed", "false")
    karim.keyboard.press("Shift+Tab")
    expect(title).to_be_focused()  # the toolbar's Tab stop is the button used last
    karim.keyboard.press("Home")
    expect(bold).to_have_attribute("aria-pressed", "false")
    karim.keyboard.press("Space")
    expect(bold).to_have_attribute("aria-pressed", "true")
    expect(editor.locator("strong")).to_have_text("mixte")
    # Back in the text, the word is still selected; the state follows the caret: on in the bold
    # word, off outside it.
    karim.keyboard.press("Tab")
    expect(editor).to_be_focused()
    assert karim.evaluate("() => window.getSelection().toString()") == "mixte"
    karim.keyboard.press("ArrowLeft")
    press(karim, "ArrowRight", 2)
    expect(bold).to_have_attribute("aria-pressed", "true")
    karim.keyboard.press("End")
    expect(bold).to_have_attribute("aria-pressed", "false")

    # A bulleted list.
    karim.keyboard.press("Enter")
    karim.keyboard.press("Shift+Tab")
    expect(bold).to_be_focused()
    press(karim, "ArrowRight", 4)
    expect(bullets).to_be_focused()
    karim.keyboard.press("Enter")
    expect(bullets).to_have_attribute("aria-pressed", "true")
    karim.keyboard.press("Tab")
    karim.keyboard.type("Premier outil partagé")
    expect(editor.locator("ul > li")).to_have_text("Premier outil partagé")

    # A link, its address typed into the labelled field the « Lien » button opens.
    press(karim, "Enter", 2)  # a new item, then out of the list
    expect(bullets).to_have_attribute("aria-pressed", "false")
    karim.keyboard.type("le site du syndicat")
    karim.keyboard.press("Shift+Home")
    karim.keyboard.press("Shift+Tab")
    karim.keyboard.press("End")
    expect(link).to_be_focused()
    karim.keyboard.press("Enter")
    field = question.get_by_role("textbox", name=re.compile("^Adresse du lien"))
    expect(field).to_be_focused()
    violations = accessibility_violations(karim)  # the page with the link form open
    assert violations == [], violations
    karim.keyboard.type(LINK.removeprefix("https://"))
    karim.keyboard.press("Enter")
    expect(field).to_be_hidden()
    expect(editor).to_be_focused()
    expect(link).to_have_attribute("aria-pressed", "true")
    expect(editor.locator(f'a[href="{LINK}"]')).to_have_text("le site du syndicat")

    expect(editor.locator("h3")).to_have_text("Notre mutualisation")
    expect(karim.locator(".save-status")).to_have_text("Enregistré")

    # The server has it: the page it renders shows the formatting in its read view...
    html = karim.context.request.get(f"{live_server.url}/sections/{section['id']}").text()
    assert karim.evaluate(READ_VIEW_JS, [html, key]) == SAVED_HTML
    # ...and the editor opens on it again after a reload.
    karim.reload()
    expect(editor).to_be_visible()
    expect(editor.locator("h3")).to_have_text("Notre mutualisation")
    expect(editor.locator("p > strong")).to_have_text("mixte")
    expect(editor.locator("ul > li")).to_have_text("Premier outil partagé")
    expect(editor.locator(f'a[href="{LINK}"]')).to_have_text("le site du syndicat")

    # The page with the editor loaded and the toolbar focused, by keyboard again.
    tab_into(karim, toolbar)
    expect(bold).to_be_focused()
    question.locator("xpath=ancestor::section[1]").screenshot(
        path=ARTEFACTS / "barre-outils-reponse.png"
    )
    violations = accessibility_violations(karim)
    assert violations == [], violations
