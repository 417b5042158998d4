"""Invitations: sent by mail, single-use, expiring, revocable, for one address only."""

from __future__ import annotations

import threading
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import func
from sqlmodel import col, select
from starlette.testclient import TestClient

from app.db import Database
from app.errors import DomainError
from app.main import create_app
from app.models import Affectation, AuditEvent, Invitation, Membre, User
from app.models._base import utcnow
from app.services import invitations
from app.settings import Settings

from .factories import World, user, world
from .mails import link_path, outbox
from .web import csrf, login


def invite(client: TestClient, w: World, **fields: object) -> object:
    data = {"emails": "nouvelle@test.fr", "role": "producteur", "message": "", **fields}
    data["csrf_token"] = csrf(client, f"/dossiers/{w.dossier.id}/equipe")
    return client.post(f"/dossiers/{w.dossier.id}/invitations", data=data, follow_redirects=False)


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as session:
        return (
            session.exec(select(func.count()).select_from(Invitation)).one(),
            session.exec(select(func.count()).select_from(Membre)).one(),
            session.exec(select(func.count()).select_from(Affectation)).one(),
        )


def test_the_mail_says_who_invites_where_with_which_role_and_who_submits(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    response = invite(
        client,
        w,
        sections=[str(w.sections[0].id), str(w.sections[1].id)],
        message="Merci de votre aide !",
    )
    assert response.status_code == 303  # type: ignore[attr-defined]
    (mail,) = outbox(db, "nouvelle@test.fr")
    assert mail.subject == "Rita Référente vous invite à rédiger le dossier de Testville"
    body = mail.body
    assert "Rita Référente (ref@test.fr) vous invite" in body
    assert "Campagne de test 2030" in body and "en tant que producteur·rice" in body
    assert "  - Gouvernance\n  - Services en ligne" in body
    assert "Le dossier est déposé par : Rita Référente." in body
    assert "Merci de votre aide !" in body
    assert link_path(body).startswith("/invitations/")
    with db.session() as session:
        stored = session.exec(select(Invitation)).one()
        token = link_path(body).rsplit("/", 1)[1]
        assert token not in stored.token_hash and len(stored.token_hash) == 64
        assert stored.expires_at - utcnow() > timedelta(days=13, hours=23)


def test_several_addresses_at_once_each_get_their_own_link(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    invite(client, w, emails="a@test.fr, b@test.fr\nc@test.fr ; a@test.fr", role="relecteur")
    mails = outbox(db)
    assert sorted(m.to for m in mails) == ["a@test.fr", "b@test.fr", "c@test.fr"]
    assert len({link_path(m.body) for m in mails}) == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"emails": "pas-une-adresse"}, "Adresse(s) non valide(s) : pas-une-adresse."),
        ({"emails": ""}, "Saisissez au moins une adresse e-mail."),
        ({"role": "maire"}, "Choisissez le rôle des personnes invitées."),
        ({"emails": "prod@test.fr"}, "Déjà membre(s) du dossier : prod@test.fr."),
        ({"role": "relecteur", "sections": ["1"]}, "Seuls les producteur·rices"),
        ({"sections": ["999"]}, "n'appartient pas à ce dossier"),
        ({"sections": ["abc"]}, "Sélection invalide."),
    ],
)
def test_a_malformed_invitation_is_refused_with_a_clear_error_and_sends_nothing(
    client: TestClient, w: World, db: Database, fields: dict[str, object], message: str
) -> None:
    login(client, w.referent.email)
    before = counts(db)
    response = invite(client, w, **fields)
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert message in unescape(response.text)  # type: ignore[attr-defined]
    assert counts(db) == before and outbox(db) == []


def accept_link(
    client: TestClient,
    w: World,
    db: Database,
    email: str = "nouvelle@test.fr",
    sections: list[str] | None = None,
) -> str:
    login(client, w.referent.email)
    invite(client, w, emails=email, sections=sections or [str(w.sections[1].id)])
    client.cookies.clear()
    return link_path(outbox(db, email)[-1].body)


def test_a_newcomer_creates_an_account_and_lands_on_their_sections(
    client: TestClient, w: World, db: Database
) -> None:
    path = accept_link(client, w, db)
    page = client.get(path)
    assert page.status_code == 200
    assert "Créer votre compte" in page.text and "nouvelle@test.fr" in page.text
    response = client.post(
        f"{path}/compte",
        data={
            "name": "Nina Nouvelle",
            "password": "un mot de passe sûr",
            "confirmation": "un mot de passe sûr",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/dossiers/{w.dossier.id}?filtre=mes-sections"
    mine = client.get(response.headers["location"])
    assert "Services en ligne" in mine.text and "Gouvernance" not in mine.text
    assert "Vous pouvez rédiger" in client.get(f"/sections/{w.sections[1].id}").text
    assert "Lecture seule" in client.get(f"/sections/{w.sections[0].id}").text
    # The link worked once; it does not work again.
    client.cookies.clear()
    again = client.get(path)
    assert again.status_code == 410 and "déjà été acceptée" in again.text


def test_account_form_errors_keep_the_invitation_usable(
    client: TestClient, w: World, db: Database
) -> None:
    path = accept_link(client, w, db)
    response = client.post(
        f"{path}/compte", data={"name": "", "password": "court", "confirmation": "court"}
    )
    assert response.status_code == 422
    assert "Saisissez votre nom" in response.text and "au moins 10 caractères" in response.text
    response = client.post(
        f"{path}/compte",
        data={"name": "N", "password": "un mot de passe sûr", "confirmation": "autre chose"},
    )
    assert "ne sont pas identiques" in response.text
    assert client.get(path).status_code == 200


def test_an_existing_account_logs_in_then_accepts(
    client: TestClient, w: World, db: Database
) -> None:
    with db.session() as session:
        user(session, "deja@test.fr", "Déjà Là")
    path = accept_link(client, w, db, "deja@test.fr")
    assert "Se connecter pour accepter" in client.get(path).text
    login(client, "deja@test.fr")
    response = client.post(path, data={"csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get(f"/dossiers/{w.dossier.id}").status_code == 200


def test_another_logged_in_account_cannot_redeem_it(
    client: TestClient, w: World, db: Database
) -> None:
    path = accept_link(client, w, db)
    login(client, w.outsider.email)
    assert "destinée à nouvelle@test.fr" in client.get(path).text
    before = counts(db)
    response = client.post(path, data={"csrf_token": csrf(client)})
    assert response.status_code == 403
    assert counts(db) == before
    assert client.get(f"/dossiers/{w.dossier.id}").status_code == 403
    with db.session() as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.kind == "policy.denied")).all()
        assert [d.actor_id for d in denied][-1] == w.outsider.id


def test_tampered_links_are_not_found(client: TestClient, w: World, db: Database) -> None:
    path = accept_link(client, w, db)
    for bad in (path[:-1], path + "x", "/invitations/nimportequoi"):
        response = client.get(bad)
        assert response.status_code == 404
        assert "n'existe pas" in unescape(response.text)


def test_expired_links_are_refused(client: TestClient, w: World, db: Database) -> None:
    path = accept_link(client, w, db)
    with db.session() as session:
        invitation = session.exec(select(Invitation)).one()
        invitation.expires_at = utcnow() - timedelta(seconds=1)
        session.add(invitation)
    response = client.get(path)
    assert response.status_code == 410 and "a expiré" in response.text
    response = client.post(
        f"{path}/compte",
        data={
            "name": "N",
            "password": "un mot de passe sûr",
            "confirmation": "un mot de passe sûr",
        },
    )
    assert response.status_code == 410
    with db.session() as session:
        assert session.exec(select(User).where(User.email == "nouvelle@test.fr")).first() is None


def test_revoked_links_are_refused_and_resending_replaces_the_link(
    client: TestClient, w: World, db: Database
) -> None:
    first = accept_link(client, w, db)
    login(client, w.referent.email)
    with db.session() as session:
        invitation_id = session.exec(select(Invitation.id)).one()
    token = csrf(client, f"/dossiers/{w.dossier.id}/equipe")
    base = f"/dossiers/{w.dossier.id}/invitations/{invitation_id}"
    assert client.post(f"{base}/renvoyer", data={"csrf_token": token}).status_code == 200
    second = link_path(outbox(db, "nouvelle@test.fr")[-1].body)
    assert second != first
    assert client.get(first).status_code == 404  # the old link died
    assert client.get(second).status_code == 200
    page = client.post(f"{base}/revoquer", data={"csrf_token": token})
    assert "révoquée" in page.text
    response = client.get(second)
    assert response.status_code == 410 and "annulée" in response.text
    # A revoked invitation can be neither revoked again nor re-sent.
    assert client.post(f"{base}/revoquer", data={"csrf_token": token}).status_code == 422
    assert client.post(f"{base}/renvoyer", data={"csrf_token": token}).status_code == 422


def test_the_referent_sees_every_status(client: TestClient, w: World, db: Database) -> None:
    login(client, w.referent.email)
    for email in ("a@test.fr", "b@test.fr", "c@test.fr"):
        invite(client, w, emails=email, role="relecteur")
    with db.session() as session:
        _, b, c = session.exec(select(Invitation).order_by(col(Invitation.id))).all()
        b.revoked_at = utcnow()
        c.expires_at = utcnow() - timedelta(days=1)
        session.add_all([b, c])
    page = client.get(f"/dossiers/{w.dossier.id}/equipe").text
    for label in ("En attente", "Révoquée", "Expirée"):
        assert label in page
    client.cookies.clear()
    path = link_path(outbox(db, "a@test.fr")[-1].body)
    client.post(
        f"{path}/compte",
        data={
            "name": "A",
            "password": "un mot de passe sûr",
            "confirmation": "un mot de passe sûr",
        },
    )
    client.cookies.clear()
    login(client, w.referent.email)
    assert "Acceptée" in client.get(f"/dossiers/{w.dossier.id}/equipe").text


def test_double_redemption_exactly_one_wins(database: Database) -> None:
    """Two concurrent redemptions of one link, on both backends: one joins, one is refused."""
    from ..conftest import make_settings

    settings = make_settings(database.url)
    with database.session() as session:
        w = world(session)
        newcomer = user(session, "nouvelle@test.fr", "Nina")
        invitations.invite(
            session, settings, w.referent, w.dossier, "nouvelle@test.fr", "relecteur", []
        )
    with database.session() as session:
        body = outbox(database, "nouvelle@test.fr")[-1].body
    token = link_path(body).rsplit("/", 1)[1]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def redeem() -> None:
        barrier.wait(timeout=10)
        try:
            with database.session() as session:
                person = session.get(User, newcomer.id)
                assert person is not None
                invitations.accept(session, token, person)
            outcomes.append("won")
        except DomainError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["InvitationUnusable", "won"]
    with database.session() as session:
        rows = session.exec(select(Membre).where(Membre.user_id == newcomer.id)).all()
        assert len(rows) == 1


def test_following_links_is_rate_limited(client: TestClient, w: World, db: Database) -> None:
    path = accept_link(client, w, db)
    statuses = [client.get(path).status_code for _ in range(25)]
    assert statuses[:20] == [200] * 20
    assert statuses[-1] == 429
    last = client.get(path)
    assert "Trop de tentatives" in last.text and int(last.headers["retry-after"]) > 0


def test_no_smtp_means_admins_read_the_outbox(client: TestClient, w: World, db: Database) -> None:
    login(client, w.referent.email)
    invite(client, w)
    client.cookies.clear()
    login(client, w.admin.email)
    page = client.get("/admin/courriels")
    assert "Aucun serveur SMTP" in page.text and "vous invite à rédiger" in page.text
    (mail,) = outbox(db)
    assert link_path(mail.body) in client.get(f"/admin/courriels/{mail.id}").text


def test_the_app_works_with_its_own_settings_object(settings: Settings) -> None:
    # A guard for the fixtures above: the client fixture's app has no SMTP.
    assert create_app(settings).state.settings.smtp_url == ""
