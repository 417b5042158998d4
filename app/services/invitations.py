"""Invitations: a référent brings people into a dossier by e-mail, with a role and sections.

A link is single-use, expires (`VALIDITY`), and only the sha256 of its token is stored, so the
database cannot be turned into working links. Re-sending makes a new token (the old link dies).
Redemption is one conditional UPDATE, so two concurrent redemptions cannot both win. Only the
account with the invited e-mail may redeem an invitation.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.auth import passwords, tokens
from app.errors import DomainError, Forbidden, Invalid, NotFound
from app.models import (
    Dossier,
    Invitation,
    InvitationKind,
    InvitationStatus,
    Role,
    Section,
    User,
)
from app.models._base import utcnow
from app.services import accounts, audit, mail, members
from app.services.dossiers import ref
from app.settings import Settings
from app.templating import ROLE_LABELS

VALIDITY = timedelta(days=14)
MAX_AT_ONCE = 50
_SPLIT = re.compile(r"[\s,;]+")


class InvitationUnusable(DomainError):
    """The link exists but can no longer be used (expired, revoked, already accepted)."""

    status_code = 410
    title = "Lien d'invitation inutilisable"


def parse_emails(text: str) -> tuple[list[str], list[str]]:
    """(valid addresses without duplicates, invalid pieces) from what was typed or pasted."""
    valid: list[str] = []
    invalid: list[str] = []
    for piece in _SPLIT.split(text):
        piece = piece.strip().strip("<>").lower()
        if not piece:
            continue
        if accounts.is_email(piece):
            if piece not in valid:
                valid.append(piece)
        else:
            invalid.append(piece)
    return valid, invalid


def invite(
    session: Session,
    settings: Settings,
    actor: User,
    dossier: Dossier,
    emails_text: str,
    role: str,
    section_ids: list[int],
    message: str = "",
) -> list[Invitation]:
    emails, invalid = parse_emails(emails_text)
    problems: dict[str, str] = {}
    if invalid:
        problems["emails"] = f"Adresse(s) non valide(s) : {', '.join(invalid[:5])}."
    elif not emails:
        problems["emails"] = "Saisissez au moins une adresse e-mail."
    elif len(emails) > MAX_AT_ONCE:
        problems["emails"] = f"Invitez au plus {MAX_AT_ONCE} personnes à la fois."
    if role not in set(Role):
        problems["role"] = "Choisissez le rôle des personnes invitées."
    sections = members.sections_of(session, dossier, section_ids)
    if len(sections) != len(set(section_ids)):
        problems["sections"] = "Une des sections choisies n'appartient pas à ce dossier."
    if section_ids and role != Role.producteur:
        problems["sections"] = "Seuls les producteur·rices se voient attribuer des sections."
    if len(message) > 2000:
        problems["message"] = "Le message ne doit pas dépasser 2 000 caractères."
    already = [e for e in emails if members.active_member_by_email(session, dossier, e)]
    if already and "emails" not in problems:
        problems["emails"] = f"Déjà membre(s) du dossier : {', '.join(already)}."
    if problems:
        raise Invalid("Les invitations n'ont pas été envoyées.", problems)
    created = []
    for email in emails:
        _revoke_pending_for(session, actor, dossier, email)
        created.append(
            _create(session, settings, actor, dossier, email, role, section_ids, message)
        )
    return created


def _create(
    session: Session,
    settings: Settings,
    actor: User,
    dossier: Dossier,
    email: str,
    role: str,
    section_ids: list[int],
    message: str,
    kind: InvitationKind = InvitationKind.membre,
) -> Invitation:
    token, token_hash = tokens.new_token()
    invitation = Invitation(
        dossier_id=dossier.id,  # type: ignore[arg-type]
        kind=kind,
        email=email,
        role=role,
        section_ids=sorted(set(section_ids)),
        message=message.strip(),
        token_hash=token_hash,
        invited_by_id=actor.id,  # type: ignore[arg-type]
        expires_at=utcnow() + VALIDITY,
    )
    session.add(invitation)
    session.flush()
    _send(session, settings, actor, dossier, invitation, token)
    audit.record(
        session,
        "invitation.create" if kind == InvitationKind.membre else "referent.offer",
        actor=actor,
        dossier_id=dossier.id,
        target=f"invitation:{invitation.id}",
        email=email,
        role=role,
        sections=invitation.section_ids,
    )
    return invitation


def _send(
    session: Session,
    settings: Settings,
    actor: User,
    dossier: Dossier,
    invitation: Invitation,
    token: str,
) -> None:
    dossier_ref = ref(session, dossier.id)  # type: ignore[arg-type]
    referents = ", ".join(u.name for u in members.referents(session, dossier)) or actor.name
    link = f"{settings.base_url.rstrip('/')}/invitations/{token}"
    role = ROLE_LABELS.get(invitation.role, invitation.role).lower()
    sections = members.sections_of(session, dossier, invitation.section_ids)
    lines = [
        "Bonjour,",
        "",
    ]
    if invitation.kind == InvitationKind.transfert:
        subject = f"{actor.name} vous propose de devenir référent·e du dossier"
        lines += [
            f"{actor.name} vous propose de devenir référent·e du dossier de candidature de "
            f"{dossier_ref.collectivite.nom} au label « {dossier_ref.campagne.titre} ».",
            "Le ou la référent·e invite l'équipe, attribue les sections et dépose le dossier.",
        ]
    else:
        subject = f"{actor.name} vous invite à rédiger le dossier de {dossier_ref.collectivite.nom}"
        lines += [
            f"{actor.name} ({actor.email}) vous invite à participer au dossier de candidature de "
            f"{dossier_ref.collectivite.nom} au label « {dossier_ref.campagne.titre} », "
            f"en tant que {role}.",
        ]
        if sections:
            titles = "\n".join(f"  - {title}" for _, title in sections)
            lines += ["", "Les sections qui vous sont confiées :", titles]
        lines += ["", f"Le dossier est déposé par : {referents}."]
    if invitation.message:
        lines += ["", f"Message de {actor.name} :", invitation.message]
    expires = (invitation.expires_at + timedelta(hours=1)).strftime("%d/%m/%Y")
    lines += [
        "",
        f"Pour accepter, ouvrez ce lien (valable une seule fois, jusqu'au {expires}) :",
        link,
        "",
        "Si vous ne vous attendiez pas à ce message, ignorez-le : sans action de votre part,",
        "le lien expirera.",
        "",
        "— Arobase, l'éditeur des dossiers du label Territoires, Villes et Villages Internet",
    ]
    mail.queue(session, invitation.email, subject, "\n".join(lines), kind="invitation")


def _revoke_pending_for(session: Session, actor: User, dossier: Dossier, email: str) -> None:
    now = utcnow()
    for old in session.exec(
        select(Invitation).where(
            Invitation.dossier_id == dossier.id,
            Invitation.email == email,
            Invitation.kind == InvitationKind.membre,
        )
    ):
        if old.status(now) == InvitationStatus.pending:
            old.revoked_at, old.revoked_by_id = now, actor.id
            session.add(old)


def for_dossier(session: Session, dossier: Dossier) -> list[Invitation]:
    return list(
        session.exec(
            select(Invitation)
            .where(Invitation.dossier_id == dossier.id)
            .order_by(col(Invitation.created_at).desc())
        )
    )


def get(session: Session, dossier: Dossier, invitation_id: int) -> Invitation:
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.dossier_id != dossier.id:
        raise NotFound()
    return invitation


def revoke(session: Session, actor: User, dossier: Dossier, invitation: Invitation) -> None:
    if invitation.status(utcnow()) != InvitationStatus.pending:
        raise Invalid("Seule une invitation en attente peut être révoquée.")
    invitation.revoked_at, invitation.revoked_by_id = utcnow(), actor.id
    session.add(invitation)
    audit.record(
        session,
        "invitation.revoke",
        actor=actor,
        dossier_id=dossier.id,
        target=f"invitation:{invitation.id}",
        email=invitation.email,
    )


def resend(
    session: Session, settings: Settings, actor: User, dossier: Dossier, invitation: Invitation
) -> None:
    """A new link replaces the old one (which stops working) and the delay starts again."""
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise Invalid("Une invitation acceptée ou révoquée ne peut pas être renvoyée.")
    token, invitation.token_hash = tokens.new_token()
    invitation.expires_at = utcnow() + VALIDITY
    invitation.last_sent_at = utcnow()
    invitation.send_count += 1
    session.add(invitation)
    session.flush()
    _send(session, settings, actor, dossier, invitation, token)
    audit.record(
        session,
        "invitation.resend",
        actor=actor,
        dossier_id=dossier.id,
        target=f"invitation:{invitation.id}",
        email=invitation.email,
    )


def by_token(session: Session, token: str) -> Invitation:
    invitation = session.exec(
        select(Invitation).where(Invitation.token_hash == tokens.digest(token))
    ).first()
    if invitation is None:
        raise NotFound("Ce lien d'invitation n'existe pas. Vérifiez qu'il a été copié en entier.")
    return invitation


def check_usable(invitation: Invitation) -> None:
    status = invitation.status(utcnow())
    if status == InvitationStatus.accepted:
        raise InvitationUnusable("Cette invitation a déjà été acceptée.")
    if status == InvitationStatus.revoked:
        raise InvitationUnusable("Cette invitation a été annulée par le ou la référent·e.")
    if status == InvitationStatus.expired:
        raise InvitationUnusable(
            "Ce lien a expiré. Demandez au ou à la référent·e de vous renvoyer une invitation."
        )


def accept(session: Session, token: str, user: User) -> Invitation:
    invitation = by_token(session, token)
    check_usable(invitation)
    if user.email != invitation.email:
        # Refused, and recorded as `policy.denied` by the request wrapper.
        raise Forbidden(
            f"Cette invitation est destinée à une autre adresse que la vôtre ({user.email}). "
            "Déconnectez-vous, puis ouvrez le lien avec le bon compte."
        )
    now = utcnow()
    # The conditional UPDATE is the lock: of two concurrent redemptions exactly one matches.
    won = session.exec(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
            col(Invitation.expires_at) > now,
        )
        .values(accepted_at=now, accepted_by_id=user.id)
    )
    if won.rowcount != 1:
        raise InvitationUnusable("Cette invitation vient d'être utilisée.")
    dossier = session.get(Dossier, invitation.dossier_id)
    if dossier is None:
        raise NotFound()
    if invitation.kind == InvitationKind.transfert:
        members.take_referent_role(session, dossier, user, invitation.invited_by_id)
    else:
        members.join(session, dossier, user, Role(invitation.role), actor=user)
        for section_id in invitation.section_ids:
            section = session.get(Section, section_id)
            if section is not None and section.dossier_id == dossier.id:
                members.add_owner(session, section, user, actor=user)
    audit.record(
        session,
        "invitation.accept",
        actor=user,
        dossier_id=dossier.id,
        target=f"invitation:{invitation.id}",
        role=invitation.role,
        invitation_kind=invitation.kind,
    )
    return invitation


def accept_with_new_account(
    session: Session, token: str, name: str, password: str, confirmation: str
) -> tuple[Invitation, User]:
    invitation = by_token(session, token)
    check_usable(invitation)
    problems = {}
    if not name.strip():
        problems["name"] = "Saisissez votre nom tel qu'il apparaîtra à l'équipe."
    if len(password) < passwords.MIN_LENGTH:
        problems["password"] = (
            f"Choisissez un mot de passe d'au moins {passwords.MIN_LENGTH} caractères."
        )
    elif password != confirmation:
        problems["confirmation"] = "Les deux mots de passe ne sont pas identiques."
    if accounts.by_email(session, invitation.email) is not None:
        problems["name"] = "Un compte existe déjà pour cette adresse : connectez-vous."
    if problems:
        raise Invalid("Votre compte n'a pas pu être créé.", problems)
    user = accounts.create_user(session, invitation.email, name, password)
    return accept(session, token, user), user


def offer_referent_role(
    session: Session, settings: Settings, actor: User, dossier: Dossier, recipient: User
) -> Invitation:
    if members.role_of(session, dossier, recipient) in (None, Role.referent):
        raise Invalid("Le rôle ne peut être transmis qu'à un autre membre du dossier.")
    return _create(
        session,
        settings,
        actor,
        dossier,
        recipient.email,
        Role.referent,
        [],
        "",
        kind=InvitationKind.transfert,
    )
