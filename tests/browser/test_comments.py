"""A relecteur comments a passage of a rich-text answer and mentions its producteur, who sees the
thread and its highlight arrive live and replies; the relecteur sees the reply live; the
référente resolves the thread. Keyboard only for the passage, axe-core on the page with threads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from ..conftest import ARTEFACTS
from .conftest import LiveServer, accessibility_violations, screenshot
from .test_coediting import open_section

pytestmark = pytest.mark.browser
PASSAGE = "trois priorités"


def select_text(page: Page, editor_index: int, text: str) -> None:
    """Select `text` in a rich-text answer (it may cross highlights and marks), as a reader does
    with the mouse or caret browsing."""
    page.locator(".ProseMirror").nth(editor_index).evaluate(
        """(root, text) => {
             const nodes = []
             const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
               acceptNode: (node) => node.parentElement.closest('[contenteditable="false"]') &&
                 node.parentElement.closest('[contenteditable="false"]') !== root
                 ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT
             })
             for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node)
             const all = nodes.map((node) => node.data).join('')
             const at = all.indexOf(text)
             if (at < 0) throw new Error('text not found: ' + text)
             const place = (offset) => {
               for (const node of nodes) {
                 if (offset <= node.data.length) return [node, offset]
                 offset -= node.data.length
               }
             }
             const range = document.createRange()
             range.setStart(...place(at))
             range.setEnd(...place(at + text.length))
             const selection = window.getSelection()
             selection.removeAllRanges()
             selection.addRange(range)
           }""",
        text,
    )


def test_a_passage_is_commented_answered_and_resolved_live(
    browser: Browser, live_server: LiveServer, pages: list[Page]
) -> None:
    section = next(
        s for s in live_server.demo["sections"] if s["owners"] == ["producteur1@exemple.fr"]
    )
    marc = open_section(browser, live_server, "relecteur@exemple.fr", section["id"])
    karim = open_section(browser, live_server, "producteur1@exemple.fr", section["id"])
    pages += [marc, karim]
    for page in (marc, karim):
        expect(page.locator(".ProseMirror").first).to_contain_text(PASSAGE)
    expect(marc.locator(".ProseMirror").first).to_have_attribute("contenteditable", "false")

    # Marc (read-only) selects the passage and reaches « Commenter ce passage » by keyboard.
    select_text(marc, 0, PASSAGE)
    button = marc.get_by_role("button", name="Commenter ce passage").first
    button.focus()
    marc.keyboard.press("Enter")
    form = marc.locator("form[data-new-thread]").first
    field = form.get_by_role("textbox", name=re.compile("^Nouveau commentaire"))
    expect(field).to_be_focused()
    expect(form.locator("[data-passage-text]")).to_have_text(PASSAGE)
    marc.keyboard.type("Pouvez-vous détailler ces priorités, @Karim Benali ?")
    form.get_by_role("button", name="Commenter la question 1").click()

    thread = marc.locator("article.thread").first
    expect(thread).to_be_focused()
    expect(thread).to_contain_text("Sur un passage, par Marc Rousseau")
    expect(thread.locator(".thread__quote")).to_contain_text(PASSAGE)
    expect(thread.locator(".mention")).to_have_text("@Karim Benali")
    expect(form.locator("textarea")).to_have_value("")  # the form starts afresh, folded
    expect(form).to_be_hidden()

    # Karim sees it arrive without reloading: in the list, and highlighted in his editor.
    karims = karim.locator("article.thread").first
    expect(karims).to_contain_text("Pouvez-vous détailler ces priorités")
    highlight = karim.locator(".ProseMirror .editor__comment").first
    expect(highlight).to_have_text(PASSAGE)
    marker = karim.locator(".ProseMirror .editor__comment-marker").first
    expect(marker).to_have_attribute("aria-label", re.compile("de Marc Rousseau : aller au fil$"))
    expect(marc.locator(".ProseMirror .editor__comment").first).to_have_text(PASSAGE)
    screenshot(karim, "commentaires-passage")
    karim.locator("section.question").first.screenshot(path=ARTEFACTS / "commentaires-question.png")

    # The marker leads to the thread; Karim answers there.
    marker.click()
    expect(karims).to_be_focused()
    reply = karims.get_by_role("textbox", name=re.compile("^Répondre"))
    reply.fill("Oui : je détaille chaque priorité avec son calendrier.")
    karims.get_by_role("button", name=re.compile("^Répondre")).click()
    expect(karims.locator(".comment")).to_have_count(2)

    # Marc sees the reply arrive, and is told so.
    expect(thread.locator(".comment")).to_have_count(2)
    expect(thread).to_contain_text("je détaille chaque priorité")
    expect(marc.locator("#commentaires-annonce")).to_have_text(
        "Les commentaires de la section ont été mis à jour."
    )
    violations = accessibility_violations(marc)
    assert violations == [], violations
    screenshot(marc, "commentaires-reponse")

    # The référente resolves it; both see it resolved, and the highlight goes.
    claire = open_section(browser, live_server, "referente@exemple.fr", section["id"])
    pages.append(claire)
    claire.locator("article.thread").first.get_by_role(
        "button", name=re.compile("^Marquer comme résolu")
    ).click()
    for page in (claire, marc, karim):
        expect(page.locator("article.thread").first).to_contain_text("Résolu par Claire Dubois")
    expect(karim.locator(".ProseMirror .editor__comment")).to_have_count(0)
    violations = accessibility_violations(claire)
    assert violations == [], violations
    screenshot(claire, "commentaires-resolu")

    # Mails: the mention to Karim, the reply to Marc.
    [mention] = live_server.smtp.wait_for("producteur1@exemple.fr")
    assert mention["Subject"] == "Marc Rousseau vous mentionne sur « " + section["titre"] + " »"
    [answer] = live_server.smtp.wait_for("relecteur@exemple.fr")
    assert answer["Subject"].startswith("Nouvelle réponse de Karim Benali")


def comment_passage(page: Page, passage: str, body: str) -> None:
    select_text(page, 0, passage)
    page.get_by_role("button", name="Commenter ce passage").first.click()
    form = page.locator("form[data-new-thread]").first
    expect(form.locator("[data-passage-text]")).to_have_text(passage)
    form.locator("textarea").fill(body)
    form.get_by_role("button", name="Commenter la question 1").click()
    expect(page.locator("article.thread").first).to_be_focused()


def test_a_deleted_passage_is_said_live_and_reattached(
    browser: Browser, live_server: LiveServer, pages: list[Page]
) -> None:
    section = next(
        s for s in live_server.demo["sections"] if s["owners"] == ["producteur1@exemple.fr"]
    )
    marc = open_section(browser, live_server, "relecteur@exemple.fr", section["id"])
    karim = open_section(browser, live_server, "producteur1@exemple.fr", section["id"])
    pages += [marc, karim]
    expect(marc.locator(".ProseMirror").first).to_contain_text(PASSAGE)
    comment_passage(marc, PASSAGE, "Lesquelles ?")
    thread = marc.locator("article.thread").first
    expect(thread).to_have_attribute("data-placement", "attache")

    # Karim deletes the passage in his editor: everyone's list says so, without reloading.
    editor = karim.locator(".ProseMirror").first
    expect(editor.locator(".editor__comment")).to_have_text(PASSAGE)
    editor.click()
    select_text(karim, 0, "fixe " + PASSAGE)
    karim.keyboard.press("Backspace")
    expect(karim.locator(".save-status")).to_have_text("Enregistré")
    for page in (marc, karim):
        listed = page.locator("article.thread").first
        expect(listed).to_have_attribute("data-placement", "supprime", timeout=10_000)
        expect(listed).to_contain_text("Passage supprimé")
        expect(listed.locator(".thread__quote")).to_have_text(PASSAGE)  # the quote stays
    expect(editor.locator(".editor__comment")).to_have_count(0)
    violations = accessibility_violations(marc)
    assert violations == [], violations
    screenshot(marc, "commentaires-passage-supprime")

    # Marc re-attaches the thread to another passage, chosen in the (read-only) answer.
    select_text(marc, 0, "simplifier les démarches")
    marc.locator("article.thread").first.get_by_role(
        "button", name=re.compile("^Rattacher à la sélection")
    ).click()
    for page in (marc, karim):
        listed = page.locator("article.thread").first
        expect(listed).to_have_attribute("data-placement", "attache")
        expect(listed.locator(".thread__quote")).to_contain_text("simplifier les démarches")
    expect(editor.locator(".editor__comment")).to_have_text("simplifier les démarches")

    # « Voir le passage » selects it in the answer.
    karim.locator("article.thread").first.get_by_role(
        "button", name=re.compile("^Voir le passage")
    ).click()
    # The editor takes focus at the next animation frame (Tiptap's focus command), and only then
    # writes its selection into the page: wait for it rather than read it at once.
    karim.wait_for_function(
        "(text) => window.getSelection().toString() === text", arg="simplifier les démarches"
    )
