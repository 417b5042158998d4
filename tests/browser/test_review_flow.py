"""Review and submission, end to end: a relecteur comments a passage and mentions its
producteur, who follows the mail's link, replies and marks the section done; the référente
answers what the completeness page lists, validates every section and submits the dossier.
Then nobody can type (live, and on a fresh page), the receipt PDF names the dossier and is
mailed to the référente. axe-core on the completeness page before and after submission."""

from __future__ import annotations

import io
import re
from email.message import EmailMessage

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from app.services import demo, questionnaires

from ..conftest import SmtpSink
from .conftest import DEMO_PASSWORD, LiveServer, accessibility_violations, screenshot
from .test_coediting import open_section
from .test_comments import PASSAGE, comment_passage

pytestmark = pytest.mark.browser
COMMUNE = str(demo.COMMUNE["nom"])
CAMPAGNE = yaml.safe_load(questionnaires.SHIPPED.read_text(encoding="utf-8"))["campagne"]["titre"]
MISSING = re.compile(r"Question obligatoire sans réponse : « (.+) »$")
INTRUSION = "Intrusion"


def log_in(page: Page, email: str) -> None:
    """On the login page (where a link that needs a session leads), sign in as `email`."""
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def mail_to(sink: SmtpSink, to: str, subject: str) -> EmailMessage:
    """The first mail to `to` with this subject, waited for (other mails may come first)."""
    count = 1
    while True:
        found = [m for m in sink.wait_for(to, count) if m["Subject"] == subject]
        if found:
            return found[0]
        count += 1


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def notice(page: Page, text: str) -> None:
    """The message a workflow or submission form shows once it is done."""
    expect(page.get_by_role("status").filter(has_text=text)).to_be_visible()


def answer_required(page: Page, label: str) -> None:
    """Answer the required question titled `label` on the open section page, in its editor."""
    card = page.locator("section.question").filter(
        has=page.get_by_role("heading", level=2).filter(has_text=label)
    )
    question = card.locator(".question-editor")
    kind = question.get_attribute("data-type")
    if kind == "texte":
        editor = card.locator(".ProseMirror")
        expect(editor).to_have_attribute("contenteditable", "true")
        editor.click()
        page.keyboard.type("Réponse de la référente.")
        expect(editor).to_contain_text("Réponse de la référente.")
    elif kind == "url":
        field = card.get_by_role("textbox")
        expect(field).to_be_enabled()
        field.fill("https://www.saint-aubin-sur-loire.fr/accessibilite")
        field.press("Tab")  # written on blur
    elif kind == "actions":
        # The editor has no widget for Atlaas action sheets (their read view stays: see
        # static/editor/README.md), so no page can answer them yet. The référente's own editor
        # connection writes the reference into the section's Y document, as a widget would.
        expect(question.locator(".answer")).to_have_text("Pas encore de réponse.")
        synced = re.compile(r"^(connected|saved)$")  # the document is there, nothing pending
        expect(page.locator(".save-status")).to_have_attribute("data-state", synced)
        key = question.get_attribute("data-key")
        page.evaluate(
            "(key) => window.arobaseEditor.doc.getMap('answers').set(key, ['atlaas-2026-017'])",
            key,
        )
    else:
        raise AssertionError(f"no way to answer a question of type {kind} here")
    # The server has it (and leaving now would not ask to stay on the page).
    expect(page.locator(".save-status")).to_have_text("Enregistré")


def validate(page: Page) -> None:
    """« J'ai terminé » when the section is still being written, then « Valider la section »."""
    workflow = page.get_by_role("region", name="Suivi de la section")
    expect(workflow).to_be_visible()
    done = workflow.get_by_role("button", name="J'ai terminé")
    if done.count():
        done.click()
        notice(page, "La section est marquée comme terminée")
    workflow.get_by_role("button", name="Valider la section").click()
    notice(page, "La section est validée : plus personne ne peut la modifier.")
    expect(page.locator(".page-head .badge")).to_have_text("Validée")
    # Until the dossier is submitted, the référente may reopen it, and anyone may comment.
    expect(workflow.get_by_role("button", name="Rouvrir la section")).to_be_visible()
    expect(page.locator("form[data-new-thread]").first).to_be_attached()


def no_violations(page: Page) -> None:
    violations = accessibility_violations(page)
    assert violations == [], violations


def test_review_then_submission_freezes_the_dossier(
    browser: Browser, live_server: LiveServer, pages: list[Page]
) -> None:
    section = next(
        s for s in live_server.demo["sections"] if s["owners"] == ["producteur1@exemple.fr"]
    )
    title, dossier = section["titre"], live_server.demo["dossier"]

    # 1. Marc, relecteur, comments a passage of the first answer and mentions Karim.
    marc = open_section(browser, live_server, "relecteur@exemple.fr", section["id"])
    pages.append(marc)
    expect(marc.locator(".ProseMirror").first).to_contain_text(PASSAGE)
    comment_passage(marc, PASSAGE, "Pouvez-vous détailler ces priorités, @Karim Benali ?")
    thread = marc.locator("article.thread").first
    expect(thread.locator(".mention")).to_have_text("@Karim Benali")

    # 2. Karim reads the mail, follows its link (signing in on the way), replies, and is done.
    mention = mail_to(
        live_server.smtp, "producteur1@exemple.fr", f"Marc Rousseau vous mentionne sur « {title} »"
    )
    text = plain_text(mention)
    said = f"Marc Rousseau vous a mentionné·e dans un commentaire sur la section « {title} »"
    assert said in text, text
    assert "Pouvez-vous détailler ces priorités" in text
    link = re.search(rf"{re.escape(live_server.url)}/sections/{section['id']}#fil-\d+", text)
    assert link, text
    karim = browser.new_context(locale="fr-FR", bypass_csp=True).new_page()
    pages.append(karim)
    karim.goto(link.group(0))
    log_in(karim, "producteur1@exemple.fr")
    expect(karim).to_have_url(re.compile(rf"/sections/{section['id']}(#.*)?$"))
    karims = karim.locator("article.thread").first
    expect(karims).to_contain_text("Pouvez-vous détailler ces priorités")
    karims.get_by_role("textbox", name=re.compile("^Répondre")).fill(
        "Oui : je détaille chaque priorité avec son calendrier."
    )
    karims.get_by_role("button", name=re.compile("^Répondre")).click()
    expect(karims.locator(".comment")).to_have_count(2)
    expect(thread.locator(".comment")).to_have_count(2)  # Marc sees it arrive
    karim.get_by_role("region", name="Suivi de la section").get_by_role(
        "button", name="J'ai terminé"
    ).click()
    notice(karim, "La section est marquée comme terminée")
    expect(karim.locator(".page-head .badge")).to_have_text("À relire")
    # Karim keeps the section open: he may still write while it is being read over.
    karims_editor = karim.locator(".ProseMirror").first
    expect(karims_editor).to_have_attribute("contenteditable", "true")

    # 3. Claire, référente, checks completeness: it lists what blocks the submission.
    claire = open_section(browser, live_server, "referente@exemple.fr", section["id"])
    pages.append(claire)
    claire.goto(f"{live_server.url}/dossiers/{dossier}")
    claire.get_by_role("link", name="Vérifier la complétude et déposer").click()
    expect(claire.get_by_role("heading", level=1)).to_have_text("Complétude et dépôt")
    blockers = claire.locator("ul.blockers li")
    expect(blockers.first).to_be_visible()
    expect(claire.get_by_role("button", name="Déposer le dossier")).to_have_count(0)
    expect(blockers.filter(has_text=f"{title} — Section pas encore validée")).to_have_count(1)
    no_violations(claire)
    screenshot(claire, "completude")

    # What to do, section by section, as the list says (its links lead to the sections).
    todo: dict[str, list[str]] = {}
    for item in blockers.all():
        href = item.get_by_role("link").get_attribute("href")
        assert href
        missing = MISSING.search(item.inner_text().strip())
        todo.setdefault(href.split("#")[0], [])
        if missing:
            todo[href.split("#")[0]].append(missing.group(1))
    assert len(todo) == len(live_server.demo["sections"])
    assert sum(len(labels) for labels in todo.values()) > 0
    for path, labels in todo.items():
        claire.goto(live_server.url + path)
        for label in labels:
            answer_required(claire, label)
        validate(claire)

    # Nothing blocks any more: Claire confirms and submits.
    claire.goto(f"{live_server.url}/dossiers/{dossier}/completude")
    expect(claire.get_by_text("Toutes les sections sont validées")).to_be_visible()
    expect(blockers).to_have_count(0)
    no_violations(claire)
    claire.get_by_label(f"Je confirme le dépôt du dossier de {COMMUNE}").check()
    claire.get_by_role("button", name="Déposer le dossier").click()
    notice(claire, "Le dossier est déposé. L'accusé de dépôt a été envoyé aux référent·es.")
    expect(claire.locator(".facts .badge")).to_have_text("Déposé")
    expect(claire.get_by_role("button", name="Déposer le dossier")).to_have_count(0)
    receipt_link = claire.get_by_role("link", name="Télécharger l'accusé de dépôt (PDF)")
    expect(receipt_link).to_have_attribute("href", f"/dossiers/{dossier}/accuse-depot.pdf")
    no_violations(claire)
    screenshot(claire, "depot")

    # 4. Nobody can type. Karim's page, writable when last loaded, turned read-only live (when
    # its section was validated; the submission keeps it so), and typing there changes nothing.
    expect(karims_editor).to_have_attribute("contenteditable", "false")
    expect(karim.locator(".save-status")).to_have_text("Lecture seule")
    before = karims_editor.inner_text()
    karims_editor.click()
    karim.keyboard.type(INTRUSION)
    karim.wait_for_timeout(300)
    assert karims_editor.inner_text() == before
    # A fresh page: read-only, no workflow (nobody may reopen it), no new comments.
    karim.reload()
    expect(karim.locator("form[data-new-thread]")).to_have_count(0)
    expect(karims_editor).to_have_attribute("contenteditable", "false")
    expect(karims_editor).to_contain_text(PASSAGE)
    expect(karims_editor).not_to_contain_text(INTRUSION)
    expect(karim.locator(".save-status")).to_have_text("Lecture seule")
    expect(karim.get_by_role("region", name="Suivi de la section")).to_have_count(0)
    claire.goto(f"{live_server.url}/sections/{section['id']}")
    expect(claire.locator(".ProseMirror").first).to_have_attribute("contenteditable", "false")
    expect(claire.locator(".save-status")).to_have_text("Lecture seule")
    expect(claire.get_by_role("region", name="Suivi de la section")).to_have_count(0)
    expect(claire.locator("form[data-new-thread]")).to_have_count(0)

    # 5. The receipt names the dossier, and the référente got it by mail.
    response = claire.request.get(f"{live_server.url}/dossiers/{dossier}/accuse-depot.pdf")
    assert response.ok
    assert response.headers["content-type"] == "application/pdf"
    pdf = response.body()
    words = " ".join(
        " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split()
    )
    assert COMMUNE in words, words
    assert CAMPAGNE in words, words
    deposited = mail_to(live_server.smtp, "referente@exemple.fr", f"Dossier déposé : {COMMUNE}")
    [attachment] = list(deposited.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"accuse-depot-dossier-{dossier}.pdf"
    assert attachment.get_content() == pdf
