"""Notifications: listed in the app, mailed at once or grouped in a daily digest."""

from __future__ import annotations

from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

from sqlmodel import select
from starlette.testclient import TestClient

from app.db import Database
from app.models import Notification, User
from app.services import notifications

from ..conftest import make_settings
from .factories import World, world
from .mails import outbox
from .web import csrf, login

PARIS = ZoneInfo("Europe/Paris")


def tell(database: Database, email: str, kind: str, subject: str, link: str = "") -> None:
    with database.session() as session:
        person = session.exec(select(User).where(User.email == email)).one()
        notifications.notify(
            session, make_settings(database.url), person, kind, subject, f"Texte : {subject}", link
        )


def set_daily(database: Database, email: str) -> None:
    with database.session() as session:
        person = session.exec(select(User).where(User.email == email)).one()
        notifications.set_mode(session, person, notifications.DAILY)


def digest(database: Database, when: datetime) -> notifications.DigestReport:
    with database.session() as session:
        return notifications.send_digests(session, make_settings(database.url), when)


def test_immediate_mode_mails_each_notice(database: Database) -> None:
    with database.session() as session:
        w = world(session)
    tell(database, w.producteur.email, "statut", "Section validée : Gouvernance", "/sections/1")
    [sent] = outbox(database, w.producteur.email)
    assert sent.subject == "Section validée : Gouvernance"
    assert sent.body.startswith("Bonjour Paul Producteur,")
    assert "http://127.0.0.1:8000/sections/1" in sent.body
    with database.session() as session:
        [notice] = session.exec(select(Notification)).all()
        assert notice.mailed_at is not None and notice.read_at is None


def test_daily_mode_groups_notices_in_one_morning_digest(database: Database) -> None:
    with database.session() as session:
        w = world(session)
    set_daily(database, w.producteur.email)
    tell(database, w.producteur.email, "mention", "Rose vous a mentionné", "/sections/1")
    tell(database, w.producteur.email, "statut", "Section validée : Gouvernance")
    tell(database, w.producteur.email, "mention", "Rita vous a mentionné")
    tell(database, w.referent.email, "statut", "Section à relire")  # immediate: one mail now
    assert outbox(database, w.producteur.email) == []

    assert digest(database, datetime(2029, 3, 4, 6, 30, tzinfo=PARIS)).people == 0  # too early
    report = digest(database, datetime(2029, 3, 4, 7, 5, tzinfo=PARIS))
    assert report == notifications.DigestReport(people=1, notices=3)
    [sent] = outbox(database, w.producteur.email)
    assert sent.subject == "Arobase : votre résumé du 4 mars 2029"
    body = sent.body
    assert body.index("Mentions :") < body.index("Rose vous a mentionné")
    assert body.index("Rose vous a mentionné") < body.index("Rita vous a mentionné")
    assert body.index("Suivi des sections :") < body.index("Section validée : Gouvernance")
    assert "http://127.0.0.1:8000/sections/1" in body

    assert digest(database, datetime(2029, 3, 4, 18, 0, tzinfo=PARIS)).people == 0  # once a day
    tell(database, w.producteur.email, "reponse", "Nouvelle réponse")
    assert digest(database, datetime(2029, 3, 4, 20, 0, tzinfo=PARIS)).people == 0
    assert digest(database, datetime(2029, 3, 5, 7, 0, tzinfo=PARIS)).notices == 1
    assert len(outbox(database, w.producteur.email)) == 2


def test_the_in_app_list_and_marking_read(client: TestClient, w: World, db: Database) -> None:
    tell(db, w.producteur.email, "statut", "Section validée : Gouvernance", "/dossiers")
    tell(db, w.referent.email, "statut", "Pour quelqu'un d'autre")
    login(client, w.producteur.email)
    page = unescape(client.get("/dossiers").text)
    assert '<span class="count">1<span class="visually-hidden"> non lue</span></span>' in page
    page = unescape(client.get("/notifications").text)
    assert "Section validée : Gouvernance" in page and "Pour quelqu'un d'autre" not in page
    with db.session() as session:
        mine = session.exec(select(Notification).where(Notification.user_id == w.producteur.id))
        theirs = session.exec(select(Notification).where(Notification.user_id == w.referent.id))
        mine_id, theirs_id = mine.one().id, theirs.one().id
    token = csrf(client, "/notifications")
    response = client.post("/notifications/lues", data={"csrf_token": token, "id": str(theirs_id)})
    assert response.status_code == 200  # back on the list: nothing of theirs was touched
    response = client.post(
        "/notifications/lues",
        data={"csrf_token": token, "id": str(mine_id)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/dossiers"  # where the notice points
    with db.session() as session:
        read = {n.user_id: n.read_at for n in session.exec(select(Notification))}
    assert read[w.producteur.id] is not None and read[w.referent.id] is None
    assert 'class="count"' not in client.get("/dossiers").text


def test_choosing_the_mode(client: TestClient, w: World, db: Database) -> None:
    login(client, w.producteur.email)
    token = csrf(client, "/notifications")
    bad = client.post("/notifications/mode", data={"csrf_token": token, "mode": "hebdo"})
    assert bad.status_code == 422
    assert "Choisissez une des deux possibilités." in unescape(bad.text)
    good = client.post(
        "/notifications/mode",
        data={"csrf_token": token, "mode": "quotidien"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    with db.session() as session:
        person = session.get(User, w.producteur.id)
        assert person is not None and person.notification_mode == "quotidien"
    assert client.post("/notifications/mode", data={"mode": "immediat"}).status_code == 403


def test_notifications_need_a_login(client: TestClient) -> None:
    response = client.get("/notifications", follow_redirects=False)
    assert response.status_code in (302, 303) and "/login" in response.headers["location"]
