"""The section workflow: « J'ai terminé », « Valider », « Renvoyer en rédaction », « Rouvrir »."""

from __future__ import annotations

from html import unescape

import httpx
import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from app import policy
from app.db import Database
from app.errors import Conflict
from app.models import AuditEvent, Dossier, DossierState, Section, SectionStatus
from app.policy import Action
from app.routes.sections import DONE
from app.services import audit, workflow

from ..conftest import make_settings
from .factories import World, world
from .mails import outbox
from .web import csrf, login

A_REDIGER, EN_COURS = SectionStatus.a_rediger, SectionStatus.en_cours
A_RELIRE, VALIDEE = SectionStatus.a_relire, SectionStatus.validee


def post(
    client: TestClient, section_id: int, transition: str, message: str | None = None
) -> httpx.Response:
    data = {"csrf_token": csrf(client)}
    if message is not None:
        data["message"] = message
    return client.post(
        f"/sections/{section_id}/statut/{transition}", data=data, follow_redirects=False
    )


def sid(w: World, index: int = 0) -> int:
    """The id of the dossier's section `index` (the producteur owns section 0 only)."""
    section_id = w.sections[index].id
    assert section_id is not None
    return section_id


def put_in(db: Database, section_id: int, status: SectionStatus) -> None:
    with db.session() as session:
        section = session.get(Section, section_id)
        assert section is not None
        section.statut = status
        session.add(section)


def status_of(db: Database, section_id: int) -> str:
    with db.session() as session:
        section = session.get(Section, section_id)
        assert section is not None
        return section.statut


def events(db: Database, kind: str) -> list[AuditEvent]:
    with db.session() as session:
        query = select(AuditEvent).where(AuditEvent.kind == kind).order_by(col(AuditEvent.id))
        return list(session.exec(query))


# --- Allowed transitions -----------------------------------------------------------------------

# (who acts, transition, from, to, who is mailed)
ALLOWED = [
    ("producteur", "terminer", A_REDIGER, A_RELIRE, ["ref@test.fr"]),
    ("producteur", "terminer", EN_COURS, A_RELIRE, ["ref@test.fr"]),
    ("referent", "terminer", EN_COURS, A_RELIRE, []),  # the only référent: not mailed herself
    ("referent", "valider", A_RELIRE, VALIDEE, ["prod@test.fr"]),
    ("referent", "renvoyer", A_RELIRE, EN_COURS, ["prod@test.fr"]),
    ("referent", "rouvrir", VALIDEE, EN_COURS, ["prod@test.fr"]),
]


@pytest.mark.parametrize(("persona", "name", "before", "after", "mailed"), ALLOWED)
def test_an_allowed_transition_moves_records_and_mails(
    client: TestClient,
    w: World,
    db: Database,
    persona: str,
    name: str,
    before: SectionStatus,
    after: SectionStatus,
    mailed: list[str],
) -> None:
    section_id = sid(w)  # owned by the producteur
    put_in(db, section_id, before)
    actor = getattr(w, persona)
    login(client, actor.email)
    message = "Vérifiez le budget 2025, s'il vous plaît."
    response = post(client, section_id, name, message)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/sections/{section_id}?ok={name}"
    assert status_of(db, section_id) == after

    [event] = events(db, "section.statut")
    assert event.actor_id == actor.id
    assert event.dossier_id == w.dossier.id
    assert event.target == f"section:{section_id}"
    assert event.data == {"from": before, "to": after, "message": message, "transition": name}

    mails = outbox(db)
    assert [m.to for m in mails] == mailed
    for sent in mails:
        assert message in sent.body
        assert actor.name in sent.body
        assert "Gouvernance" in sent.subject
        assert f"/sections/{section_id}" in sent.body

    page = unescape(client.get(response.headers["location"]).text)
    assert DONE[name] in page
    assert f'<span class="badge badge--{after}">' in page


def test_the_message_is_optional_except_to_send_back(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.producteur.email)
    assert post(client, sid(w), "terminer").status_code == 303
    [sent] = outbox(db, "ref@test.fr")
    assert sent.subject == "Section à relire : Gouvernance"
    assert "Son message" not in sent.body
    assert "Paul Producteur a terminé la section « Gouvernance » du dossier de Testville" in (
        sent.body
    )


@pytest.mark.parametrize("message", [None, "", "   \n  "])
def test_sending_back_needs_a_comment(
    client: TestClient, w: World, db: Database, message: str | None
) -> None:
    section_id = sid(w)
    put_in(db, section_id, A_RELIRE)
    login(client, w.referent.email)
    response = post(client, section_id, "renvoyer", message)
    assert response.status_code == 422
    page = unescape(response.text)
    assert "Le statut de la section n'a pas changé" in page
    assert "Écrivez un message : dites ce qu'il reste à corriger dans la section." in page
    assert 'href="#message-renvoyer"' in page  # the error summary leads to the field
    assert 'id="message-renvoyer"' in page and 'aria-invalid="true"' in page
    assert status_of(db, section_id) == A_RELIRE
    assert outbox(db) == []
    assert events(db, "section.statut") == []


def test_a_too_long_message_is_refused(client: TestClient, w: World, db: Database) -> None:
    section_id = sid(w)
    login(client, w.producteur.email)
    response = post(client, section_id, "terminer", "x" * (workflow.MAX_MESSAGE + 1))
    assert response.status_code == 422
    assert "Le message est trop long" in unescape(response.text)
    assert status_of(db, section_id) == A_REDIGER
    assert outbox(db) == []


def test_the_workflow_comes_after_the_questions_unless_a_message_was_refused(
    client: TestClient, w: World
) -> None:
    """One declares a section done once written: the buttons follow the questions. A refused
    message brings them first, so that the error is the first thing on the page."""
    section_id = sid(w)
    login(client, w.producteur.email)
    page = client.get(f"/sections/{section_id}").text
    assert 'id="reponses"' in page and 'id="suivi-titre"' in page
    assert page.index('id="reponses"') < page.index('id="suivi-titre"') < page.index('"pager"')
    refused = post(client, section_id, "terminer", "x" * (workflow.MAX_MESSAGE + 1)).text
    assert refused.index('id="erreurs"') < refused.index('id="reponses"')
    assert refused.count('id="suivi-titre"') == 1


# --- Refusals ----------------------------------------------------------------------------------

# (who acts, index of the section, transition, status the section is in): each one allowed by
# the status, refused by the policy.
FORBIDDEN = [
    *[(p, 0, "terminer", EN_COURS) for p in ("relecteur", "outsider", "admin")],
    ("producteur", 1, "terminer", EN_COURS),  # a section the producteur does not own
    *[(p, 0, "valider", A_RELIRE) for p in ("producteur", "relecteur", "outsider", "admin")],
    *[(p, 0, "renvoyer", A_RELIRE) for p in ("producteur", "relecteur", "outsider", "admin")],
    *[(p, 0, "rouvrir", VALIDEE) for p in ("producteur", "relecteur", "outsider", "admin")],
]


@pytest.mark.parametrize(("persona", "index", "name", "status"), FORBIDDEN)
def test_a_forbidden_person_gets_403_and_nothing_changes(
    client: TestClient, w: World, db: Database, persona: str, index: int, name: str, status: str
) -> None:
    section_id = sid(w, index)
    put_in(db, section_id, SectionStatus(status))
    actor = getattr(w, persona)
    login(client, actor.email)
    response = post(client, section_id, name, "Un message.")
    assert response.status_code == 403
    assert "Accès refusé" in response.text
    assert status_of(db, section_id) == status
    assert outbox(db) == []
    assert events(db, "section.statut") == []
    [denied] = events(db, "policy.denied")
    assert (denied.actor_id, denied.target) == (
        actor.id,
        f"POST /sections/{section_id}/statut/{name}",
    )


@pytest.mark.parametrize("state", [s for s in DossierState if s != DossierState.brouillon])
@pytest.mark.parametrize(
    ("name", "status"),
    [("terminer", EN_COURS), ("valider", A_RELIRE), ("renvoyer", A_RELIRE), ("rouvrir", VALIDEE)],
)
def test_no_transition_once_the_dossier_is_no_longer_a_draft(
    client: TestClient, w: World, db: Database, state: DossierState, name: str, status: str
) -> None:
    section_id = sid(w)
    put_in(db, section_id, SectionStatus(status))
    with db.session() as session:
        session.get_one(Dossier, w.dossier.id).etat = state
    login(client, w.referent.email)
    assert post(client, section_id, name, "Un message.").status_code == 403
    assert status_of(db, section_id) == status
    assert events(db, "section.statut") == []


WRONG_STATUS = [
    ("terminer", A_RELIRE, "La section est « à relire ». Seule une section à rédiger ou en cours"),
    ("terminer", VALIDEE, "La section est « validée ». Seule une section à rédiger ou en cours"),
    ("valider", A_REDIGER, "La section est « à rédiger ». Seule une section à relire"),
    ("valider", EN_COURS, "La section est « en cours ». Seule une section à relire"),
    ("valider", VALIDEE, "La section est « validée ». Seule une section à relire"),
    ("renvoyer", A_REDIGER, "Seule une section à relire peut être renvoyée en rédaction."),
    ("renvoyer", EN_COURS, "Seule une section à relire peut être renvoyée en rédaction."),
    ("renvoyer", VALIDEE, "Seule une section à relire peut être renvoyée en rédaction."),
    ("rouvrir", A_REDIGER, "Seule une section validée peut être rouverte."),
    ("rouvrir", EN_COURS, "Seule une section validée peut être rouverte."),
    ("rouvrir", A_RELIRE, "Seule une section validée peut être rouverte."),
]


def test_every_wrong_status_is_listed() -> None:
    wrong = {(name, status) for name, status, _ in WRONG_STATUS}
    every = {(t.name, s) for t in workflow.TRANSITIONS.values() for s in SectionStatus}
    assert wrong == {(t, s) for t, s in every if s not in workflow.TRANSITIONS[t].sources}


@pytest.mark.parametrize(("name", "status", "said"), WRONG_STATUS)
def test_a_transition_from_a_wrong_status_is_a_409_that_changes_nothing(
    client: TestClient, w: World, db: Database, name: str, status: SectionStatus, said: str
) -> None:
    section_id = sid(w)
    put_in(db, section_id, status)
    login(client, w.referent.email)  # allowed every transition: only the status is wrong
    response = post(client, section_id, name, "Un message.")
    assert response.status_code == 409
    page = unescape(response.text)
    assert "Action impossible" in page and said in page
    assert status_of(db, section_id) == status
    assert outbox(db) == []
    assert events(db, "section.statut") == []
    assert events(db, "policy.denied") == []


def test_an_unknown_transition_is_not_found(client: TestClient, w: World, db: Database) -> None:
    login(client, w.referent.email)
    assert post(client, sid(w), "publier").status_code == 404
    assert status_of(db, sid(w)) == A_REDIGER


# --- The section page --------------------------------------------------------------------------

BUTTONS = {
    "terminer": "J'ai terminé",
    "valider": "Valider la section",
    "renvoyer": "Renvoyer en rédaction",
    "rouvrir": "Rouvrir la section",
}
SHOWN = [
    ("producteur", 0, A_REDIGER, {"terminer"}),
    ("producteur", 0, EN_COURS, {"terminer"}),
    ("producteur", 0, A_RELIRE, set()),
    ("producteur", 0, VALIDEE, set()),
    ("producteur", 1, EN_COURS, set()),  # not theirs
    ("referent", 0, EN_COURS, {"terminer"}),
    ("referent", 0, A_RELIRE, {"valider", "renvoyer"}),
    ("referent", 0, VALIDEE, {"rouvrir"}),
    ("relecteur", 0, A_RELIRE, set()),
    ("admin", 0, A_RELIRE, set()),
]


@pytest.mark.parametrize(("persona", "index", "status", "buttons"), SHOWN)
def test_the_page_shows_the_status_and_only_the_usable_buttons(
    client: TestClient,
    w: World,
    db: Database,
    persona: str,
    index: int,
    status: SectionStatus,
    buttons: set[str],
) -> None:
    section_id = sid(w, index)
    put_in(db, section_id, status)
    login(client, getattr(w, persona).email)
    page = unescape(client.get(f"/sections/{section_id}").text)
    label = {A_REDIGER: "À rédiger", EN_COURS: "En cours", A_RELIRE: "À relire"}
    assert f'<span class="badge badge--{status}">{label.get(status, "Validée")}</span>' in page
    shown = {name for name, text in BUTTONS.items() if f">{text}</button>" in page}
    assert shown == buttons
    for name in BUTTONS:
        assert (f'action="/sections/{section_id}/statut/{name}"' in page) is (name in buttons)
    if "renvoyer" in buttons:
        assert '<label for="message-renvoyer">Ce qu\'il reste à corriger' in page
        assert "(obligatoire)" in page


def test_the_overview_shows_each_section_status(client: TestClient, w: World, db: Database) -> None:
    put_in(db, sid(w), VALIDEE)
    put_in(db, sid(w, 1), A_RELIRE)
    login(client, w.relecteur.email)
    page = client.get(f"/dossiers/{w.dossier.id}").text
    assert '<span class="badge badge--validee">Validée</span>' in page
    assert '<span class="badge badge--a_relire">À relire</span>' in unescape(page)


def test_a_validated_section_is_read_only_for_everyone(
    client: TestClient, w: World, db: Database
) -> None:
    section_id = sid(w)
    put_in(db, section_id, A_RELIRE)
    login(client, w.referent.email)
    assert post(client, section_id, "valider").status_code == 303
    with db.session() as session:
        section = session.get_one(Section, section_id)
        dossier = session.get_one(Dossier, w.dossier.id)
        for person in (w.referent, w.producteur):
            facts = policy.facts_for(session, person, dossier, section)
            assert policy.can(facts, Action.SECTION_WRITE) is False
            assert policy.can(facts, Action.SECTION_READ) is True
    for person in (w.referent, w.producteur):
        client.cookies.clear()
        login(client, person.email)
        page = client.get(f"/sections/{section_id}").text
        assert "Lecture seule (section validée)" in unescape(page)
        assert 'data-can-write="false"' in page
    # Reopened, it is written again.
    client.cookies.clear()
    login(client, w.referent.email)
    assert post(client, section_id, "rouvrir").status_code == 303
    assert "Vous pouvez rédiger cette section" in client.get(f"/sections/{section_id}").text


# --- The service on both databases -------------------------------------------------------------


def test_the_whole_cycle_and_the_rights_flag(database: Database, database_url: str) -> None:
    settings = make_settings(database_url)
    with database.session() as session:
        w = world(session)
        section = w.sections[0]
        cycle = [
            (w.producteur, "terminer", A_RELIRE),
            (w.referent, "renvoyer", EN_COURS),
            (w.producteur, "terminer", A_RELIRE),
            (w.referent, "valider", VALIDEE),
            (w.referent, "rouvrir", EN_COURS),
        ]
        for actor, name, after in cycle:
            session.info.pop(audit.RIGHTS_CHANGED, None)
            workflow.apply(session, settings, actor, section, workflow.get(name), "À voir.")
            assert section.statut == after
            # After commit, `app.context` re-checks open editing connections when this is set.
            assert session.info.get(audit.RIGHTS_CHANGED) is True
    recorded = [(e.data["from"], e.data["to"]) for e in events(database, "section.statut")]
    assert recorded == [
        (A_REDIGER, A_RELIRE),
        (A_RELIRE, EN_COURS),
        (EN_COURS, A_RELIRE),
        (A_RELIRE, VALIDEE),
        (VALIDEE, EN_COURS),
    ]
    assert [m.to for m in outbox(database)] == [
        "ref@test.fr",
        "prod@test.fr",
        "ref@test.fr",
        "prod@test.fr",
        "prod@test.fr",
    ]
    with database.session() as session:
        assert audit.verify(session).intact


def test_of_two_people_acting_at_once_the_second_is_told(
    database: Database, database_url: str
) -> None:
    """A page shown « à relire » twice: validating in one and sending back in the other."""
    settings = make_settings(database_url)
    with database.session() as session:
        w = world(session)
        section_id = sid(w)
        session.get_one(Section, section_id).statut = A_RELIRE
    with database.session() as first, database.session() as second:
        seen_first = first.get_one(Section, section_id)
        seen_second = second.get_one(Section, section_id)  # read before the first one commits
        assert seen_second.statut == A_RELIRE
        workflow.apply(first, settings, w.referent, seen_first, workflow.get("valider"), "")
        first.commit()
        with pytest.raises(Conflict, match="« validée »"):
            workflow.apply(
                second, settings, w.referent, seen_second, workflow.get("renvoyer"), "Non."
            )
        second.rollback()
    assert status_of(database, section_id) == VALIDEE
    assert len(events(database, "section.statut")) == 1
