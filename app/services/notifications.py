"""What a person should know about: listed in the app, and mailed at once or in a daily digest.

Every notice to someone who has an account goes through `notify`: it is kept (the in-app list)
and mailed according to the person's choice. Mails to addresses without an account yet
(invitations) stay plain mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from itertools import groupby

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.errors import Invalid
from app.models import Notification, User
from app.models._base import utcnow
from app.services import mail
from app.settings import Settings
from app.templating import PARIS, french_date

IMMEDIATE, DAILY = "immediat", "quotidien"
MODES = {IMMEDIATE: "À chaque fois", DAILY: "Un résumé par jour"}
DIGEST_HOUR = time(7, 0)  # Paris time: the digest waits for the morning
KIND_LABELS = {
    "mention": "Mentions",
    "reponse": "Réponses",
    "commentaire": "Commentaires",
    "statut": "Suivi des sections",
    "attribution": "Attributions",
    "role": "Rôles",
    "depot": "Dépôt",
    "correction": "Corrections",
    "echeance": "Échéances",
    "verrouillage": "Échéances",
}


def notify(
    session: Session,
    settings: Settings,
    person: User,
    kind: str,
    subject: str,
    body: str,
    link: str = "",
    dossier_id: int | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> Notification | None:
    """Tell `person` (nothing for a disabled account). `body` is the text without greeting;
    `link` a path in the app. An attachment forces an immediate mail (a receipt is not
    something to wait for)."""
    if not person.is_active or person.id is None:
        return None
    notice = Notification(
        user_id=person.id,
        kind=kind,
        subject=subject,
        body=body,
        link=link,
        dossier_id=dossier_id,
    )
    if person.notification_mode != DAILY or attachment is not None:
        url = f"{settings.base_url.rstrip('/')}{link}" if link else ""
        text = f"Bonjour {person.name},\n\n{body}\n" + (f"\n{url}\n" if url else "")
        mail.queue(session, person.email, subject, text, kind, attachment)
        notice.mailed_at = utcnow()
    session.add(notice)
    session.flush()
    return notice


def unread_count(session: Session, user: User) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, col(Notification.read_at).is_(None))
        ).one()
    )


def recent(session: Session, user: User, limit: int = 100) -> list[Notification]:
    return list(
        session.exec(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(col(Notification.id).desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, user: User, notice_id: int | None = None) -> int:
    """Mark one notice (or all of them) read; only the person's own."""
    query = update(Notification).where(
        col(Notification.user_id) == user.id, col(Notification.read_at).is_(None)
    )
    if notice_id is not None:
        query = query.where(col(Notification.id) == notice_id)
    return int(session.exec(query.values(read_at=utcnow())).rowcount)


def set_mode(session: Session, user: User, mode: str) -> None:
    if mode not in MODES:
        raise Invalid("Choix inconnu.", {"mode": "Choisissez une des deux possibilités."})
    user.notification_mode = mode
    session.add(user)


@dataclass(frozen=True)
class DigestReport:
    people: int
    notices: int


def send_digests(session: Session, settings: Settings, now: datetime) -> DigestReport:
    """One mail per person in daily mode with notices not mailed yet, once a day from 7 h
    (Paris): the notices grouped by kind, oldest first. Idempotent within a day."""
    local = now.astimezone(PARIS)
    if local.time() < DIGEST_HOUR:
        return DigestReport(0, 0)
    start_of_day = datetime.combine(local.date(), DIGEST_HOUR, tzinfo=PARIS)
    pending = session.exec(
        select(Notification, User)
        .join(User, col(User.id) == Notification.user_id)
        .where(
            User.notification_mode == DAILY,
            col(User.is_active).is_(True),
            col(Notification.mailed_at).is_(None),
        )
        .order_by(col(User.id), col(Notification.id))
    ).all()
    people = notices = 0
    for _, rows in groupby(pending, key=lambda row: row[1].id):
        batch = list(rows)
        person = batch[0][1]
        if person.digest_sent_at and person.digest_sent_at >= start_of_day:
            continue  # already had today's
        mail.queue(
            session,
            person.email,
            f"Arobase : votre résumé du {french_date(local.date())}",
            _digest_text(settings, person, [notice for notice, _ in batch]),
            "resume",
        )
        stamp = now
        for notice, _ in batch:
            notice.mailed_at = stamp
            session.add(notice)
        person.digest_sent_at = stamp
        session.add(person)
        people += 1
        notices += len(batch)
    session.flush()
    return DigestReport(people, notices)


def _digest_text(settings: Settings, person: User, batch: list[Notification]) -> str:
    base = settings.base_url.rstrip("/")
    lines = [f"Bonjour {person.name},", "", "Voici ce qui s'est passé depuis votre dernier résumé."]
    ordered = sorted(batch, key=lambda n: (KIND_LABELS.get(n.kind, n.kind), n.id or 0))
    for label, group in groupby(ordered, key=lambda n: KIND_LABELS.get(n.kind, n.kind)):
        lines += ["", f"{label} :"]
        for notice in group:
            when = french_date(notice.created_at, with_time=True)
            lines.append(f"- {when} — {notice.subject}")
            if notice.link:
                lines.append(f"  {base}{notice.link}")
    lines += ["", f"Toutes vos notifications : {base}/notifications", ""]
    return "\n".join(lines)
