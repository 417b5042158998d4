"""Password reset by e-mail: the same answer whether the address is known or not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.auth import passwords, sessions, tokens
from app.errors import Invalid, NotFound
from app.models import PasswordReset, User
from app.models._base import utcnow
from app.services import accounts, audit, mail
from app.settings import Settings

VALIDITY = timedelta(hours=1)


def request_reset(session: Session, settings: Settings, email: str) -> None:
    """Mail a link if the account exists and is active; do nothing visible otherwise."""
    user = accounts.by_email(session, email)
    if user is None or not user.is_active:
        audit.record(session, "password.reset_unknown", target=f"email:{email.strip().lower()}")
        return
    token, token_hash = tokens.new_token()
    session.add(
        PasswordReset(
            user_id=user.id,  # type: ignore[arg-type]
            token_hash=token_hash,
            expires_at=utcnow() + VALIDITY,
        )
    )
    link = f"{settings.base_url.rstrip('/')}/mot-de-passe/{token}"
    mail.queue(
        session,
        user.email,
        "Réinitialiser votre mot de passe Arobase",
        f"Bonjour {user.name},\n\nPour choisir un nouveau mot de passe, ouvrez ce lien "
        f"(valable une heure, une seule fois) :\n{link}\n\nSi vous n'avez rien demandé, "
        "ignorez ce message : votre mot de passe actuel reste valable.\n",
        kind="mot_de_passe",
    )
    audit.record(session, "password.reset_request", actor=user, target=f"user:{user.id}")


def usable(session: Session, token: str) -> PasswordReset:
    row = session.exec(
        select(PasswordReset).where(PasswordReset.token_hash == tokens.digest(token))
    ).first()
    if row is None or row.used_at is not None or utcnow() >= row.expires_at:
        raise NotFound("Ce lien de réinitialisation n'est plus valable. Demandez-en un nouveau.")
    return row


def reset(session: Session, token: str, password: str, confirmation: str) -> User:
    row = usable(session, token)
    problems = {}
    if len(password) < passwords.MIN_LENGTH:
        problems["password"] = f"Choisissez au moins {passwords.MIN_LENGTH} caractères."
    elif password != confirmation:
        problems["confirmation"] = "Les deux mots de passe ne sont pas identiques."
    if problems:
        raise Invalid("Le mot de passe n'a pas été changé.", problems)
    used = session.exec(
        update(PasswordReset)
        .where(col(PasswordReset.id) == row.id, col(PasswordReset.used_at).is_(None))
        .values(used_at=utcnow())
    )
    user = session.get(User, row.user_id)
    if used.rowcount != 1 or user is None:
        raise NotFound("Ce lien vient d'être utilisé.")
    user.password_hash = passwords.hash_password(password)
    session.add(user)
    # A new password ends every open session (someone else may have had the old one).
    sessions.close_all_for(session, user.id)  # type: ignore[arg-type]
    audit.record(session, "password.reset", actor=user, target=f"user:{user.id}")
    return user
