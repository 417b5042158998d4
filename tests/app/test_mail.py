"""Mail goes out through a real SMTP server when one is configured."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from app.db import Database
from app.main import create_app
from app.models import OutboxMail
from app.services.mail import MailSender, SmtpTarget, queue

from ..conftest import SmtpSink, make_settings
from .factories import World, world
from .web import csrf, login


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", SmtpTarget("127.0.0.1", 2525, "", "", "plain")),
        (
            "smtp+starttls://u%40x:p%3Aw@mail.example",
            SmtpTarget("mail.example", 587, "u@x", "p:w", "starttls"),
        ),
        ("smtps://mail.example", SmtpTarget("mail.example", 465, "", "", "tls")),
    ],
)
def test_smtp_urls(url: str, expected: SmtpTarget) -> None:
    assert SmtpTarget.parse(url) == expected


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "mail.example:25"])
def test_malformed_smtp_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="AROBASE_SMTP_URL"):
        SmtpTarget.parse(url)


@pytest.fixture
def smtp_app(sqlite_url: str, smtp: SmtpSink) -> Iterator[tuple[TestClient, Database, World]]:
    settings = make_settings(sqlite_url, smtp_url=f"smtp://127.0.0.1:{smtp.port}")
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        yield client, database, w
    database.dispose()


def test_an_invitation_is_delivered_by_smtp(
    smtp_app: tuple[TestClient, Database, World], smtp: SmtpSink
) -> None:
    client, database, w = smtp_app
    login(client, w.referent.email)
    client.post(
        f"/dossiers/{w.dossier.id}/invitations",
        data={"csrf_token": csrf(client), "emails": "nouvelle@test.fr", "role": "relecteur"},
    )
    (message,) = smtp.wait_for("nouvelle@test.fr")
    assert message["Subject"] == "Rita Référente vous invite à rédiger le dossier de Testville"
    assert "/invitations/" in message.get_content()
    deadline = time.monotonic() + 10
    while True:  # the sender records the delivery right after the server accepted it
        with database.session() as session:
            row = session.exec(select(OutboxMail)).one()
        if row.sent_at is not None or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert row.sent_at is not None and row.attempts == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_keeps_the_mail_for_a_retry(sqlite_url: str, smtp: SmtpSink) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        queue(session, "x@test.fr", "Sujet", "Corps")
    down = MailSender(
        make_settings(sqlite_url, smtp_url=f"smtp://127.0.0.1:{free_port()}"), database
    )
    assert down.send_pending() == 0
    with database.session() as session:
        row = session.exec(select(OutboxMail)).one()
        assert row.sent_at is None and row.attempts == 1 and row.last_error
    up = MailSender(make_settings(sqlite_url, smtp_url=f"smtp://127.0.0.1:{smtp.port}"), database)
    assert up.send_pending() == 1
    assert up.send_pending() == 0  # sent once, never twice
    assert len(smtp.wait_for("x@test.fr")) == 1
    database.dispose()
