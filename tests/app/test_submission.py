"""Completeness, submission (frozen, signed, receipt mailed) and an admin's correction request."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from datetime import date, datetime
from html import unescape

import pytest
from pypdf import PdfReader
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from starlette.testclient import TestClient

from app import policy
from app.db import Database
from app.errors import Conflict
from app.models import (
    AuditEvent,
    Depot,
    Dossier,
    DossierState,
    Section,
    SectionStatus,
    Version,
    VersionSection,
)
from app.policy import Action
from app.services import submission
from app.templating import PARIS, french_date

from ..conftest import SECRET, make_settings
from .factories import World, answer
from .mails import outbox
from .web import csrf, login


def ready(db: Database, w: World) -> None:
    """Every required question answered and every section validated."""
    with db.session() as session:
        section = session.get(Section, w.sections[0].id)
        assert section is not None
        answer(
            session,
            section,
            w.producteur,
            {"gouvernance.strategie": [{"type": "paragraphe", "texte": "Une stratégie."}]},
        )
        for s in session.exec(select(Section).where(Section.dossier_id == w.dossier.id)):
            s.statut = SectionStatus.validee
            session.add(s)


def state(db: Database, w: World) -> str:
    with db.session() as session:
        dossier = session.get(Dossier, w.dossier.id)
        assert dossier is not None
        return dossier.etat


def kinds(db: Database) -> list[str]:
    with db.session() as session:
        return [e.kind for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]


def deposit(client: TestClient, w: World, confirm: bool = True) -> int:
    page = f"/dossiers/{w.dossier.id}/completude"
    data = {"csrf_token": csrf(client, page)}
    if confirm:
        data["confirmation"] = "oui"
    response = client.post(f"/dossiers/{w.dossier.id}/deposer", data=data, follow_redirects=False)
    return response.status_code


def test_completeness_lists_what_blocks_with_links(client: TestClient, w: World) -> None:
    login(client, w.producteur.email)  # the whole team sees it, not only the référent
    page = unescape(client.get(f"/dossiers/{w.dossier.id}/completude").text)
    first = w.sections[0].id
    assert "Question obligatoire sans réponse : « Décrivez votre stratégie. »" in page
    assert f'href="/sections/{first}#q-gouvernance-strategie"' in page
    assert "Section pas encore validée" in page
    assert "Déposer le dossier</button>" not in page  # not the producteur's to do


@pytest.mark.parametrize("persona", ["outsider"])
def test_completeness_is_the_team_s_business(client: TestClient, w: World, persona: str) -> None:
    login(client, getattr(w, persona).email)
    assert client.get(f"/dossiers/{w.dossier.id}/completude").status_code == 403


def test_a_dossier_with_blockers_is_not_submitted(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    response_status = deposit(client, w)
    assert response_status == 422
    assert state(db, w) == DossierState.brouillon
    with db.session() as session:
        assert session.exec(select(Depot)).first() is None


def test_submission_freezes_signs_records_and_mails_the_receipt(
    client: TestClient, w: World, db: Database
) -> None:
    ready(db, w)
    login(client, w.referent.email)
    page = unescape(client.get(f"/dossiers/{w.dossier.id}/completude").text)
    assert "le dossier peut être déposé" in page and "Déposer le dossier</button>" in page
    assert deposit(client, w, confirm=False) == 422  # the confirmation box is required
    assert state(db, w) == DossierState.brouillon
    assert deposit(client, w) == 303
    assert state(db, w) == DossierState.depose

    with db.session() as session:
        [depot] = session.exec(select(Depot)).all()
        expected = hmac.new(SECRET.encode(), depot.digest.encode(), hashlib.sha256).hexdigest()
        assert depot.signature == expected and depot.submitted_by == w.referent.id
        version = session.get(Version, depot.version_id)
        assert version is not None and version.kind == "depot"
        frozen = session.exec(
            select(VersionSection).where(VersionSection.version_id == version.id)
        ).all()
        assert len(frozen) == len(w.sections)
    assert kinds(db)[-2:] == ["dossier.state", "dossier.depot"]

    [sent] = outbox(db, w.referent.email)
    assert sent.attachment_type == "application/pdf" and sent.attachment
    text = PdfReader(io.BytesIO(sent.attachment)).pages[0].extract_text()
    assert "Accusé de dépôt" in text and "Testville" in text and depot.digest in text
    # Who submitted it and when (the day, Paris time).
    assert f"par {w.referent.name} ({w.referent.email})" in text
    assert f"Déposé le {french_date(datetime.now(PARIS).date())}" in text

    receipt = client.get(f"/dossiers/{w.dossier.id}/accuse-depot.pdf")
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    assert receipt.content == sent.attachment


def test_after_submission_nothing_moves_over_http(
    client: TestClient, w: World, db: Database
) -> None:
    ready(db, w)
    login(client, w.referent.email)
    assert deposit(client, w) == 303
    token = csrf(client, f"/dossiers/{w.dossier.id}")
    section = w.sections[0].id
    for path in (
        f"/dossiers/{w.dossier.id}/deposer",
        f"/sections/{section}/statut/rouvrir",
        f"/dossiers/{w.dossier.id}/attributions",
    ):
        response = client.post(path, data={"csrf_token": token, "confirmation": "oui"})
        assert response.status_code == 403, path
    with db.session() as session:
        dossier = session.get(Dossier, w.dossier.id)
        sec = session.get(Section, section)
        assert dossier is not None and sec is not None
        facts = policy.facts_for(session, w.referent, dossier, sec)
        assert not policy.can(facts, Action.SECTION_WRITE)
        assert len(session.exec(select(Depot)).all()) == 1


def test_the_receipt_is_for_referents_and_admins(
    client: TestClient, w: World, db: Database
) -> None:
    ready(db, w)
    login(client, w.referent.email)
    assert deposit(client, w) == 303
    for persona, expected in (("producteur", 403), ("relecteur", 403), ("admin", 200)):
        client.cookies.clear()
        login(client, getattr(w, persona).email)
        got = client.get(f"/dossiers/{w.dossier.id}/accuse-depot.pdf").status_code
        assert got == expected, persona


def test_a_second_submission_of_the_same_draft_conflicts(w: World, db: Database) -> None:
    ready(db, w)
    settings = make_settings(db.url)
    with db.session() as session:
        dossier = session.get(Dossier, w.dossier.id)
        assert dossier is not None
        submission.submit(session, settings, w.referent, dossier)
    with db.session() as session:
        dossier = session.get(Dossier, w.dossier.id)
        assert dossier is not None
        # As a page read it just before the first submission won (not a change to flush).
        set_committed_value(dossier, "etat", DossierState.brouillon)
        with pytest.raises(Conflict):
            submission.submit(session, settings, w.referent, dossier)
        session.rollback()
    assert state(db, w) == DossierState.depose


def correction(client: TestClient, w: World, sections: list[int], message: str) -> int:
    page = f"/dossiers/{w.dossier.id}/correction"
    data: dict[str, object] = {"csrf_token": csrf(client, page), "message": message}
    data["sections"] = [str(s) for s in sections]
    response = client.post(page, data=data, follow_redirects=False)
    return response.status_code


def test_an_admin_reopens_chosen_sections_with_a_message(
    client: TestClient, w: World, db: Database
) -> None:
    ready(db, w)
    login(client, w.referent.email)
    assert deposit(client, w) == 303
    assert client.get(f"/dossiers/{w.dossier.id}/correction").status_code == 403
    client.cookies.clear()
    login(client, w.admin.email)
    first, second = w.sections[0].id, w.sections[1].id
    assert first is not None and second is not None
    assert correction(client, w, [], "Précisez le budget.") == 422
    assert correction(client, w, [first], "   ") == 422
    assert state(db, w) == DossierState.depose
    assert correction(client, w, [first], "Précisez le budget.") == 303
    assert state(db, w) == DossierState.brouillon
    with db.session() as session:
        statuses = {s.id: s.statut for s in session.exec(select(Section))}
    assert statuses[first] == SectionStatus.en_cours and statuses[second] == SectionStatus.validee
    assert kinds(db)[-2:] == ["dossier.state", "dossier.correction"]
    with db.session() as session:  # what the jury had is named before anything moves again
        labels = [v.label for v in session.exec(select(Version).order_by(col(Version.id)))]
    assert labels[0].startswith("Dépôt du ") and labels[1].startswith("Correction demandée le ")
    mailed = {m.to for m in outbox(db) if m.kind == "correction"}
    assert mailed == {w.referent.email, w.producteur.email}
    assert all("Précisez le budget." in m.body for m in outbox(db) if m.kind == "correction")
    # The draft again: the référent may write the reopened section, not the validated one.
    with db.session() as session:
        dossier = session.get(Dossier, w.dossier.id)
        assert dossier is not None
        for section_id, writable in ((first, True), (second, False)):
            sec = session.get(Section, section_id)
            facts = policy.facts_for(session, w.referent, dossier, sec)
            assert policy.can(facts, Action.SECTION_WRITE) is writable


def test_the_overview_shows_last_activity_and_open_threads(
    client: TestClient, w: World, db: Database
) -> None:
    from app.models import Thread

    with db.session() as session:
        section = session.get(Section, w.sections[0].id)
        assert section is not None
        answer(session, section, w.producteur, {"gouvernance.elu": True})
        for resolved in (False, False, True):
            thread = Thread(section_id=section.id or 0, question_key="gouvernance.elu")
            thread.author_id = w.relecteur.id or 0
            if resolved:
                thread.resolved_at = thread.created_at
            session.add(thread)
    login(client, w.referent.email)
    page = unescape(client.get(f"/dossiers/{w.dossier.id}").text)
    assert "Dernière modification" in page and "Discussions ouvertes" in page
    first_row = page.split(f'href="/sections/{w.sections[0].id}"')[1].split("</tr>")[0]
    second_row = page.split(f'href="/sections/{w.sections[1].id}"')[1].split("</tr>")[0]
    assert "<td>2</td>" in first_row and " à " in first_row  # two open threads, a date and time
    assert "Jamais" in second_row


def test_the_overview_counts_missing_required_answers_and_days_left(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    page = unescape(client.get(f"/dossiers/{w.dossier.id}").text)
    row = page.split(f'href="/sections/{w.sections[0].id}"')[1].split("</tr>")[0]
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    # Responsables, Statut, Réponses, Obligatoires manquantes, …: « Décrivez votre stratégie »
    assert cells[2].strip() == "0 / 3" and cells[3].strip() == "1"
    days = (date(2029, 11, 15) - datetime.now(PARIS).date()).days
    assert "15 novembre 2029" in page and f"(dans {days} jours)" in page

    with db.session() as session:
        section = session.get(Section, w.sections[0].id)
        assert section is not None
        answer(
            session,
            section,
            w.producteur,
            {"gouvernance.strategie": [{"type": "paragraphe", "texte": "Notre stratégie."}]},
        )
    page = unescape(client.get(f"/dossiers/{w.dossier.id}").text)
    row = page.split(f'href="/sections/{w.sections[0].id}"')[1].split("</tr>")[0]
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert "Aucune" in cells[3]
