"""Outgoing mail: queued in the database outbox, delivered by SMTP when it is configured.

Queuing happens in the caller's transaction, so a mail exists exactly when the change that
caused it was committed. `MailSender` (run by the app's lifespan when `AROBASE_SMTP_URL` is set)
delivers queued mails; several processes may run one: each mail is claimed by bumping its
attempt counter, so it is sent once. Without SMTP (the embedded default) mails stay in the
outbox, which admins read in the UI, so the demo works offline.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

import anyio
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db import Database
from app.models import OutboxMail
from app.models._base import utcnow
from app.settings import Settings

log = logging.getLogger("arobase.mail")
MAX_ATTEMPTS = 5
QUEUED = "arobase.mail_queued"
POLL_SECONDS = 2.0


def queue(
    session: Session,
    to: str,
    subject: str,
    body: str,
    kind: str = "",
    attachment: tuple[str, str, bytes] | None = None,
) -> OutboxMail:
    """Queue a mail; `attachment` is (file name, MIME type, bytes)."""
    mail = OutboxMail(to=to, subject=subject, body=body, kind=kind)
    if attachment is not None:
        mail.attachment_name, mail.attachment_type, mail.attachment = attachment
    session.add(mail)
    session.flush()
    session.info[QUEUED] = True  # read after commit to wake the sender at once
    return mail


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str
    password: str
    mode: str  # "plain", "starttls" or "tls"

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        modes = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}
        if parts.scheme not in modes or not parts.hostname:
            raise ValueError(
                f"AROBASE_SMTP_URL must look like smtp://user:pass@host:port, got {url!r}"
            )
        default_port = {"plain": 25, "starttls": 587, "tls": 465}[modes[parts.scheme]]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            mode=modes[parts.scheme],
        )


def deliver(target: SmtpTarget, sender: str, mail: OutboxMail) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="arobase")
    message.set_content(mail.body)
    if mail.attachment is not None:
        maintype, _, subtype = (mail.attachment_type or "application/octet-stream").partition("/")
        message.add_attachment(
            mail.attachment, maintype=maintype, subtype=subtype, filename=mail.attachment_name
        )
    context = ssl.create_default_context()
    smtp = (
        smtplib.SMTP_SSL(target.host, target.port, timeout=20, context=context)
        if target.mode == "tls"
        else smtplib.SMTP(target.host, target.port, timeout=20)
    )
    with smtp:
        if target.mode == "starttls":
            smtp.starttls(context=context)
        if target.username:
            smtp.login(target.username, target.password)
        smtp.send_message(message)


class MailSender:
    """Delivers the outbox in the background; `wake()` after queuing sends without waiting."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.target = SmtpTarget.parse(settings.smtp_url)
        self.sender = settings.mail_from
        self.database = database
        self._wake = anyio.Event()

    def wake(self) -> None:
        self._wake.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[MailSender]:
        async with anyio.create_task_group() as group:
            group.start_soon(self._loop)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    async def _loop(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self.send_pending)
            except Exception:  # the loop's top-level handler: keep delivering later mails
                log.exception("mail delivery round failed")
            with anyio.move_on_after(POLL_SECONDS):
                await self._wake.wait()
            self._wake = anyio.Event()

    def send_pending(self) -> int:
        """Send what is queued; returns how many were delivered."""
        sent = 0
        with self.database.session() as session:
            pending = session.exec(
                select(OutboxMail)
                .where(col(OutboxMail.sent_at).is_(None), OutboxMail.attempts < MAX_ATTEMPTS)
                .order_by(col(OutboxMail.id))
                .limit(50)
            ).all()
        for mail in pending:
            if self._claim(mail) and self._send(mail):
                sent += 1
        return sent

    def _claim(self, mail: OutboxMail) -> bool:
        with self.database.session() as session:
            result = session.exec(
                update(OutboxMail)
                .where(col(OutboxMail.id) == mail.id, col(OutboxMail.attempts) == mail.attempts)
                .values(attempts=mail.attempts + 1)
            )
            return bool(result.rowcount == 1)

    def _send(self, mail: OutboxMail) -> bool:
        try:
            deliver(self.target, self.sender, mail)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("mail %s to %s not sent: %s", mail.id, mail.to, exc)
            with self.database.session() as session:
                session.exec(
                    update(OutboxMail)
                    .where(col(OutboxMail.id) == mail.id)
                    .values(last_error=str(exc)[:500])
                )
            return False
        with self.database.session() as session:
            session.exec(
                update(OutboxMail).where(col(OutboxMail.id) == mail.id).values(sent_at=utcnow())
            )
        return True
