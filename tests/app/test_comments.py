"""Comment threads over HTTP: on a question or a passage, replies, mentions, resolution,
deletion, « passage supprimé » and re-attaching — without JavaScript and as htmx requests."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from app.db import Database
from app.models import AuditEvent, Comment, DossierState, Notification, Section, Thread, User
from app.services import anchors, members
from app.services.anchors import Position

from . import comment_helpers as text
from .comment_helpers import KEY
from .factories import World, user
from .mails import outbox
from .web import csrf, login

PASSAGE_TEXT = ["Notre stratégie numérique est ambitieuse.", "Elle sera évaluée en 2027."]


def sid(w: World, index: int = 0) -> int:
    section_id = w.sections[index].id
    assert section_id is not None
    return section_id


def post(
    client: TestClient, path: str, data: dict[str, Any] | None = None, htmx: bool = False
) -> httpx.Response:
    page = "/dossiers"
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        path,
        data={"csrf_token": csrf(client, page), **(data or {})},
        headers=headers,
        follow_redirects=False,
    )


def as_(client: TestClient, email: str) -> None:
    """Log in as someone else (a logged-in client's login form would need a CSRF token)."""
    client.cookies.clear()
    login(client, email)


def open_thread(
    client: TestClient, w: World, body: str, key: str = KEY, **extra: Any
) -> httpx.Response:
    return post(
        client, f"/sections/{sid(w)}/commentaires", {"question": key, "body": body, **extra}
    )


def page(client: TestClient, w: World) -> str:
    return unescape(client.get(f"/sections/{sid(w)}").text)


def threads(db: Database) -> list[Thread]:
    with db.session() as session:
        return list(session.exec(select(Thread).order_by(col(Thread.id))))


def comments(db: Database) -> list[Comment]:
    with db.session() as session:
        return list(session.exec(select(Comment).order_by(col(Comment.id))))


def notices(db: Database) -> list[tuple[str, str]]:
    """(e-mail, kind) of every notification, in order."""
    with db.session() as session:
        rows = session.exec(
            select(User.email, Notification.kind)
            .join(User, col(User.id) == Notification.user_id)
            .order_by(col(Notification.id))
        )
        return [(email, kind) for email, kind in rows]


def events(db: Database, kind: str) -> list[AuditEvent]:
    with db.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.kind == kind)))


def written(db: Database, w: World) -> tuple[int, tuple[str, str]]:
    """The rich-text answer written by the producteur; (its client, the anchors of « stratégie
    numérique »)."""
    with db.session() as session:
        section = session.get(Section, sid(w))
        assert section is not None
        client_id = text.write_paragraphs(session, section, w.producteur, PASSAGE_TEXT)
        return client_id, text.anchor(session, section, client_id, "stratégie numérique")


def anchored(pair: tuple[str, str]) -> dict[str, str]:
    return {"anchor_start": pair[0], "anchor_end": pair[1]}


# --- Opening threads ---------------------------------------------------------------------------


def test_a_thread_on_a_question_works_without_javascript(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    response = open_thread(client, w, "Pouvez-vous chiffrer le budget ?")
    [thread] = threads(db)
    assert response.status_code == 303
    assert response.headers["location"] == f"/sections/{sid(w)}?ok=commentaire#fil-{thread.id}"
    assert (thread.question_key, thread.anchor_start, thread.quote) == (KEY, None, "")
    [comment] = comments(db)
    assert (comment.thread_id, comment.author_id) == (thread.id, w.relecteur.id)
    html = page(client, w)
    assert "Votre commentaire est publié." in unescape(
        client.get(response.headers["location"]).text
    )
    assert f'id="fil-{thread.id}"' in html and 'data-placement="question"' in html
    assert "Sur la question, par Rose Relectrice" in html
    assert "Pouvez-vous chiffrer le budget ?" in html
    [event] = events(db, "thread.open")
    assert (event.actor_id, event.target) == (w.relecteur.id, f"thread:{thread.id}")
    assert event.data["question"] == KEY and event.data["passage"] is False


def test_a_thread_on_a_passage_keeps_the_server_s_quote(
    client: TestClient, w: World, db: Database
) -> None:
    _, pair = written(db, w)
    as_(client, w.relecteur.email)
    # What the browser says the passage is does not matter: the server reads it in the document.
    response = open_thread(client, w, "Laquelle ?", quote="autre chose", **anchored(pair))
    assert response.status_code == 303, response.text
    [thread] = threads(db)
    assert (thread.anchor_start, thread.anchor_end) == pair
    assert thread.quote == "stratégie numérique"
    html = page(client, w)
    assert f'data-anchor-start="{pair[0]}" data-anchor-end="{pair[1]}"' in html
    assert 'data-placement="attache"' in html
    assert "Sur un passage, par Rose Relectrice" in html
    assert "Passage commenté : stratégie numérique" in re.sub(r"<[^>]+>", "", html)


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        ({"body": "  \n "}, 422, "Écrivez votre commentaire."),
        (
            {"body": "x" * 4001},
            422,
            "Le commentaire est trop long : 4\u202f000 caractères au plus.",
        ),
        ({"anchor_start": "AAA="}, 422, "Sélectionnez de nouveau le passage."),
        (
            {"anchor_start": "pas une ancre", "anchor_end": "ni celle-ci"},
            422,
            "Le passage choisi n'existe plus dans la réponse : choisissez-en un autre.",
        ),
    ],
)
def test_a_refused_thread_says_why_and_keeps_what_was_typed(
    client: TestClient, w: World, db: Database, extra: dict[str, str], status: int, message: str
) -> None:
    as_(client, w.relecteur.email)
    data = {"body": "Mon commentaire", "mentions": [str(w.producteur.id)], **extra}
    response = open_thread(client, w, data.pop("body"), **data)
    assert response.status_code == status
    html = unescape(response.text)
    assert "Le commentaire n'a pas été envoyé" in html and message in html
    assert 'href="#nouveau-gouvernance-strategie"' in html  # the summary leads to the field
    assert 'id="nouveau-gouvernance-strategie"' in html and 'aria-invalid="true"' in html
    assert f'value="{w.producteur.id}" checked' in html
    assert threads(db) == [] and notices(db) == []


def test_as_an_htmx_request_a_refusal_answers_the_lists(client: TestClient, w: World) -> None:
    as_(client, w.relecteur.email)
    response = post(
        client,
        f"/sections/{sid(w)}/commentaires",
        {"question": KEY, "body": " "},
        htmx=True,
    )
    assert response.status_code == 422
    html = unescape(response.text)
    assert "<html" not in html
    assert 'id="commentaires-gouvernance-strategie" data-comments-for="' in html
    assert html.count('hx-swap-oob="true"') == 4  # the thème's three questions, and the feed
    assert "Écrivez votre commentaire." in html


def test_as_an_htmx_request_success_answers_the_lists_and_what_to_focus(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    response = post(
        client, f"/sections/{sid(w)}/commentaires", {"question": KEY, "body": "Bien."}, htmx=True
    )
    [thread] = threads(db)
    assert response.status_code == 200
    assert response.headers["HX-Trigger-After-Settle"] == (
        f'{{"commentaires:focus": "fil-{thread.id}"}}'
    )
    assert f'id="fil-{thread.id}"' in response.text
    lists = client.get(f"/sections/{sid(w)}/commentaires", headers={"HX-Request": "true"})
    assert lists.status_code == 200 and f'id="fil-{thread.id}"' in lists.text
    plain = client.get(f"/sections/{sid(w)}/commentaires", follow_redirects=False)
    assert (plain.status_code, plain.headers["location"]) == (303, f"/sections/{sid(w)}")


def test_a_passage_the_server_has_not_stored_yet_is_refused_for_now(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    unknown = (anchors.encode(Position(424242, 3, 0)), anchors.encode(Position(424242, 9, -1)))
    response = open_thread(client, w, "Trop tôt", **anchored(unknown))
    assert response.status_code == 409
    assert "pas encore enregistré" in unescape(response.text)
    assert threads(db) == []


def test_passages_belong_to_rich_text_answers(client: TestClient, w: World, db: Database) -> None:
    _, pair = written(db, w)
    as_(client, w.relecteur.email)
    response = open_thread(client, w, "Non", key="gouvernance.budget", **anchored(pair))
    assert response.status_code == 422
    unknown = open_thread(client, w, "Non", key="services.canaux")  # another thème's question
    assert unknown.status_code == 422
    assert threads(db) == []


# --- Mentions and replies ----------------------------------------------------------------------


def test_mentions_notify_each_member_named_or_picked_once(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    body = "Merci @paul   producteur et @Rose Relectrice (moi) : voyez avec @Personne Inconnue."
    assert open_thread(client, w, body, mentions=[str(w.referent.id), str(w.producteur.id)])
    [thread] = threads(db)
    # The producteur owns the section: mentioned, so not told again as its producteur.
    assert sorted(notices(db)) == [("prod@test.fr", "mention"), ("ref@test.fr", "mention")]
    [mail] = outbox(db, "prod@test.fr")
    assert mail.subject == "Rose Relectrice vous mentionne sur « Gouvernance »"
    assert "Merci @paul   producteur" in mail.body
    assert f"http://127.0.0.1:8000/sections/{sid(w)}#fil-{thread.id}" in mail.body
    html = page(client, w)
    assert '<strong class="mention">@paul   producteur</strong>' in html
    assert '<strong class="mention">@Personne' not in html


def test_a_new_thread_tells_the_section_s_producteurs(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    open_thread(client, w, "Une remarque générale.")
    assert notices(db) == [("prod@test.fr", "commentaire")]
    [mail] = outbox(db)
    assert mail.subject == "Nouveau commentaire sur « Gouvernance »"
    assert "Rose Relectrice a commenté la section « Gouvernance » du dossier de Testville" in (
        mail.body
    )


def test_a_reply_tells_earlier_participants_but_not_its_author(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    open_thread(client, w, "Première remarque.")  # tells the producteur (« commentaire »)
    [thread] = threads(db)
    as_(client, w.producteur.email)
    post(client, f"/commentaires/fils/{thread.id}/repondre", {"body": "C'est noté."})
    as_(client, w.referent.email)
    response = post(
        client,
        f"/commentaires/fils/{thread.id}/repondre",
        {"body": "Je tranche : @Rose Relectrice a raison."},
    )
    assert response.status_code == 303
    last = comments(db)[-1]
    assert response.headers["location"] == f"/sections/{sid(w)}?ok=reponse#commentaire-{last.id}"
    assert notices(db) == [
        ("prod@test.fr", "commentaire"),
        ("rel@test.fr", "reponse"),  # the producteur replied: the thread's author is told
        ("rel@test.fr", "mention"),  # the référente mentions her: a mention, not a reply too
        ("prod@test.fr", "reponse"),
    ]
    mail = outbox(db, "prod@test.fr")[-1]
    assert mail.subject == "Nouvelle réponse de Rita Référente sur « Gouvernance »"
    assert [e.data["mentions"] for e in events(db, "comment.add")] == [[], [w.relecteur.id]]


def test_people_no_longer_in_the_dossier_are_not_told(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    open_thread(client, w, "Question.")
    [thread] = threads(db)
    with db.session() as session:
        referent = session.get(User, w.referent.id)
        producteur = session.get(User, w.producteur.id)
        assert referent is not None and producteur is not None
        members.remove(session, referent, w.dossier, producteur)
    as_(client, w.referent.email)
    post(client, f"/commentaires/fils/{thread.id}/repondre", {"body": "@Paul Producteur ?"})
    assert notices(db) == [("prod@test.fr", "commentaire"), ("rel@test.fr", "reponse")]


# --- Resolving, deleting -----------------------------------------------------------------------


def test_resolving_and_reopening(client: TestClient, w: World, db: Database) -> None:
    as_(client, w.relecteur.email)
    open_thread(client, w, "À corriger.")
    [thread] = threads(db)
    as_(client, w.producteur.email)  # the section's producteur
    response = post(client, f"/commentaires/fils/{thread.id}/resoudre")
    assert response.headers["location"] == f"/sections/{sid(w)}?ok=resolu#fil-{thread.id}"
    [thread] = threads(db)
    assert thread.resolved_at is not None and thread.resolved_by == w.producteur.id
    html = page(client, w)
    assert "Résolu par Paul Producteur" in html and "Rouvrir le fil" in html
    assert f'id="repondre-{thread.id}"' not in html  # reopen it to reply
    assert post(client, f"/commentaires/fils/{thread.id}/resoudre").status_code == 409
    refused = post(client, f"/commentaires/fils/{thread.id}/repondre", {"body": "Encore"})
    assert refused.status_code == 409
    assert post(client, f"/commentaires/fils/{thread.id}/rouvrir").status_code == 303
    assert threads(db)[0].resolved_at is None
    assert post(client, f"/commentaires/fils/{thread.id}/rouvrir").status_code == 409
    assert [len(events(db, k)) for k in ("thread.resolve", "thread.reopen")] == [1, 1]


def test_deleting_one_s_comment_leaves_a_trace_in_the_thread(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    open_thread(client, w, "Ceci est une erreur.")
    [comment] = comments(db)
    response = post(client, f"/commentaires/{comment.id}/supprimer")
    assert response.status_code == 303
    [comment] = comments(db)
    assert comment.deleted_at is not None and comment.body == "Ceci est une erreur."
    html = page(client, w)
    assert "Commentaire supprimé." in html and "Ceci est une erreur." not in html
    assert post(client, f"/commentaires/{comment.id}/supprimer").status_code == 404
    [event] = events(db, "comment.delete")
    assert event.data["author"] == w.relecteur.id


def test_the_referente_deletes_a_thread_others_cannot(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    open_thread(client, w, "Hors sujet.")
    [thread] = threads(db)
    [comment] = comments(db)
    as_(client, w.producteur.email)
    assert post(client, f"/commentaires/fils/{thread.id}/supprimer").status_code == 403
    assert post(client, f"/commentaires/{comment.id}/supprimer").status_code == 403
    as_(client, w.referent.email)
    response = post(client, f"/commentaires/fils/{thread.id}/supprimer")
    assert response.headers["location"] == (
        f"/sections/{sid(w)}?ok=fil-supprime#commentaires-gouvernance-strategie-titre"
    )
    assert threads(db)[0].deleted_at is not None  # kept, out of the list
    assert "Hors sujet." not in page(client, w)
    assert (
        post(client, f"/commentaires/fils/{thread.id}/repondre", {"body": "?"}).status_code == 404
    )


# --- « Passage supprimé » and re-attaching -----------------------------------------------------


def test_a_deleted_passage_stays_listed_and_can_be_reattached(
    client: TestClient, w: World, db: Database
) -> None:
    client_id, pair = written(db, w)
    as_(client, w.relecteur.email)
    open_thread(client, w, "Précisez.", **anchored(pair))
    [thread] = threads(db)
    still_there = post(client, f"/commentaires/fils/{thread.id}/rattacher", anchored(pair))
    assert still_there.status_code == 409
    with db.session() as session:
        section = session.get(Section, sid(w))
        assert section is not None

        def delete_passage(doc: Any) -> None:
            first = text.texts(doc)[0]
            start = str(first).index("stratégie")
            del first[start : start + len("stratégie numérique".encode())]

        text.edit(session, section, w.producteur, delete_passage)
        new = text.anchor(session, section, client_id, "évaluée en 2027")
    html = page(client, w)
    assert 'data-placement="supprime"' in html
    assert "Passage supprimé" in html and "stratégie numérique" in html
    assert "Rattacher à la sélection" in html

    response = post(client, f"/commentaires/fils/{thread.id}/rattacher", anchored(new))
    assert response.headers["location"] == f"/sections/{sid(w)}?ok=rattache#fil-{thread.id}"
    [thread] = threads(db)
    assert (thread.anchor_start, thread.anchor_end, thread.quote) == (*new, "évaluée en 2027")
    assert 'data-placement="attache"' in page(client, w)
    [event] = events(db, "thread.reattach")
    assert event.data["previous_quote"] == "stratégie numérique"


def test_a_question_thread_has_no_passage_to_reattach(
    client: TestClient, w: World, db: Database
) -> None:
    _, pair = written(db, w)
    as_(client, w.relecteur.email)
    open_thread(client, w, "Général.")
    [thread] = threads(db)
    response = post(client, f"/commentaires/fils/{thread.id}/rattacher", anchored(pair))
    assert response.status_code == 409


# --- Who sees what -----------------------------------------------------------------------------


def test_readers_without_the_right_to_comment_see_no_forms(
    client: TestClient, w: World, db: Database
) -> None:
    as_(client, w.relecteur.email)
    open_thread(client, w, "Pour l'équipe.")
    as_(client, w.admin.email)
    html = page(client, w)
    assert "Pour l'équipe." in html  # the association's staff read
    assert "<textarea" not in html and "Marquer comme résolu" not in html
    with db.session() as session:
        jury = user(session, "jury@test.fr", "Jules Jury")
        jury.is_jury = True
        session.add(jury)
        dossier = session.get(type(w.dossier), w.dossier.id)
        assert dossier is not None
        dossier.etat = DossierState.depose
        session.add(dossier)
    as_(client, "jury@test.fr")
    html = page(client, w)
    assert "Pour l'équipe." not in html and "commentaires-flux" not in html
    as_(client, w.relecteur.email)
    html = page(client, w)  # submitted: read-only for the team too
    assert "Pour l'équipe." in html and "<textarea" not in html
