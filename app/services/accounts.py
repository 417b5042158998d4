"""Creating accounts and checking logins."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from app.auth import passwords, sessions
from app.auth.oidc import Identity
from app.errors import Forbidden, Invalid
from app.models import User
from app.services import audit

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_email(text: str) -> bool:
    return bool(_EMAIL.match(text)) and len(text) <= 254


def normalise_email(email: str) -> str:
    return email.strip().lower()


def by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalise_email(email))).first()


def create_user(
    session: Session,
    email: str,
    name: str,
    password: str | None = None,
    *,
    is_admin: bool = False,
    actor: User | None = None,
) -> User:
    email = normalise_email(email)
    problems = {}
    if not is_email(email):
        problems["email"] = "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."
    if not name.strip():
        problems["name"] = "Saisissez le nom de la personne."
    if password is not None and len(password) < passwords.MIN_LENGTH:
        problems["password"] = (
            f"Le mot de passe doit compter au moins {passwords.MIN_LENGTH} caractères."
        )
    if not problems and by_email(session, email) is not None:
        problems["email"] = "Un compte existe déjà avec cette adresse."
    if problems:
        raise Invalid("Le compte n'a pas pu être créé.", problems)
    user = User(
        email=email,
        name=name.strip(),
        password_hash=passwords.hash_password(password) if password else None,
        is_admin=is_admin,
    )
    session.add(user)
    session.flush()
    audit.record(session, "user.create", actor=actor, target=f"user:{user.id}", admin=is_admin)
    return user


def from_oidc(session: Session, identity: Identity) -> User:
    """The account of an OpenID Connect identity: by subject, else by e-mail, else a new one.

    Claims refresh the account at each login (the name, the SIRET of the agent's employer).
    """
    user = session.exec(
        select(User).where(
            User.oidc_issuer == identity.issuer, User.oidc_subject == identity.subject
        )
    ).first() or by_email(session, identity.email)
    created = user is None
    if user is None:
        user = User(email=identity.email, name=identity.name)
    if not user.is_active:
        raise Forbidden("Ce compte a été désactivé. Contactez l'équipe de Villes Internet.")
    user.oidc_issuer, user.oidc_subject = identity.issuer, identity.subject
    user.siret = identity.siret or user.siret
    if identity.given_name or identity.usual_name:
        user.name = identity.name
    session.add(user)
    session.flush()
    if created:
        audit.record(session, "user.create", actor=user, target=f"user:{user.id}", method="oidc")
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The account for these credentials, or None — the same work is done either way."""
    user = by_email(session, email)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        return None
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        session.add(user)
    return user


def set_active(session: Session, actor: User, user: User, active: bool) -> None:
    """Disable (every session ends at once) or re-enable an account."""
    if user.id == actor.id and not active:
        raise Invalid("Vous ne pouvez pas désactiver votre propre compte.")
    user.is_active = active
    session.add(user)
    if not active:
        sessions.close_all_for(session, user.id)  # type: ignore[arg-type]
    audit.record(
        session, "user.enable" if active else "user.disable", actor=actor, target=f"user:{user.id}"
    )


def all_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.name))))
