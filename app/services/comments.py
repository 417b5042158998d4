"""Comment threads on a section: on a question, or on a passage of a rich-text answer.

Who may do what is `app.policy`'s (`COMMENT_*`, `THREAD_RESOLVE`, `may_delete_comment`); the
routes ask it, and this module asks it again only to say, in the views, which buttons to show.
Whether a thread is in a state that allows a change (resolving a resolved thread, replying to
one, re-attaching a passage that is still there) is this module's: a `Conflict`.

Nothing is ever erased: a deleted comment or thread keeps its row (`deleted_at`) and an audit
event says who deleted it; a deleted comment reads « Commentaire supprimé » in its thread, a
deleted thread leaves the list. A thread whose passage was deleted stays listed as « passage
supprimé », with its quote, and can be re-attached to a new selection (see `app.services.anchors`).

People are told (`notifications.notify`): everyone mentioned in a comment (`@Prénom Nom` in the
text, or picked in the form's list of members), kind « mention »; on a reply, the thread's
earlier participants, kind « reponse »; on a new thread, the section's producteurs, kind
« commentaire ». Never the author, never twice for one comment, only current members.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid, NotFound
from app.models import Comment, Question, QuestionType, Section, Theme, Thread, User
from app.models._base import utcnow
from app.services import anchors, audit, documents, dossiers, members, notifications
from app.services.anchors import Placement
from app.settings import Settings

MAX_BODY = 4000  # characters: a comment, not a document
MAX_QUOTE = 280  # characters of the passage kept as the thread's quote
EXCERPT = 300  # characters of a comment quoted in a notification
QUESTION = "question"  # the placement of a thread on a whole question


def mention_parts(body: str, people: list[User]) -> list[tuple[str, bool]]:
    """`body` cut around the mentions of `people` (True: a mention), to show them apart."""
    pattern = _mention_pattern(people)
    if pattern is None:
        return [(body, False)]
    parts: list[tuple[str, bool]] = []
    position = 0
    for match in pattern.finditer(body):
        if match.start() > position:
            parts.append((body[position : match.start()], False))
        parts.append((match.group(0), True))
        position = match.end()
    if position < len(body):
        parts.append((body[position:], False))
    return parts


def _mention_pattern(people: list[User]) -> re.Pattern[str] | None:
    names = sorted({p.name.strip() for p in people if p.name.strip()}, key=len, reverse=True)
    if not names:
        return None
    alternatives = "|".join(r"\s+".join(map(re.escape, name.split())) for name in names)
    return re.compile(rf"(?<![\w@])@(?:{alternatives})(?!\w)", re.IGNORECASE)


def mentioned(body: str, people: list[User]) -> list[User]:
    """The people `@Prénom Nom` names in `body` (case and spacing aside)."""
    pattern = _mention_pattern(people)
    if pattern is None:
        return []
    found = {" ".join(m.group(0)[1:].split()).casefold() for m in pattern.finditer(body)}
    return [p for p in people if " ".join(p.name.split()).casefold() in found]


# --- Changes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a thread's section stands: for titles in notifications and audit events."""

    section: Section
    title: str
    commune: str

    def link(self, thread: Thread) -> str:
        return f"/sections/{self.section.id}#fil-{thread.id}"


def place(session: Session, section: Section) -> Place:
    ref = dossiers.ref(session, section.dossier_id)
    theme = session.get(Theme, section.theme_id)
    return Place(section, theme.titre if theme else section.doc_name, ref.collectivite.nom)


def thread_of(session: Session, thread_id: int) -> tuple[Thread, Section]:
    thread = session.get(Thread, thread_id)
    if thread is None or thread.deleted_at is not None:
        raise NotFound()
    section = session.get(Section, thread.section_id)
    if section is None:
        raise NotFound()
    return thread, section


def comment_of(session: Session, comment_id: int) -> tuple[Comment, Thread, Section]:
    comment = session.get(Comment, comment_id)
    if comment is None or comment.deleted_at is not None:
        raise NotFound()
    thread, section = thread_of(session, comment.thread_id)
    return comment, thread, section


def question_of(session: Session, section: Section, key: str) -> Question:
    question = session.exec(
        select(Question).where(Question.theme_id == section.theme_id, Question.cle == key)
    ).first()
    if question is None:
        raise Invalid(
            "Question inconnue.", {"question": "Cette question n'est pas dans la section."}
        )
    return question


def open_thread(
    session: Session,
    settings: Settings,
    actor: User,
    section: Section,
    question: Question,
    body: str,
    mention_ids: list[int],
    anchor: tuple[str, str] | None = None,
) -> Thread:
    """A new thread on `question`, or on the passage between the two anchors of its answer."""
    text = _checked(body)
    quote = ""
    if anchor is not None:
        if question.type != QuestionType.texte:
            raise Invalid(
                "Seule une réponse rédigée a des passages.",
                {"body": "Cette réponse n'a pas de passages : commentez toute la question."},
            )
        quote = _passage(session, section, question.cle, anchor)
    thread = Thread(
        section_id=section.id,  # type: ignore[arg-type]
        question_key=question.cle,
        anchor_start=anchor[0] if anchor else None,
        anchor_end=anchor[1] if anchor else None,
        quote=quote,
        author_id=actor.id,  # type: ignore[arg-type]
    )
    session.add(thread)
    session.flush()
    comment = _add_comment(session, actor, thread, text)
    where = place(session, section)
    told = _tell_mentioned(session, settings, actor, where, thread, text, mention_ids)
    owners = [u for u in _owners(session, section) if u.id not in told and u.id != actor.id]
    for person in owners:
        notifications.notify(
            session,
            settings,
            person,
            "commentaire",
            f"Nouveau commentaire sur « {where.title} »",
            f"{actor.name} a commenté la section « {where.title} » du dossier de "
            f"{where.commune}, que vous rédigez :\n\n{_excerpt(text)}",
            where.link(thread),
            section.dossier_id,
        )
    _audit(
        session,
        "thread.open",
        actor,
        section,
        thread,
        question=question.cle,
        passage=anchor is not None,
        comment=comment.id,
        mentions=sorted(told),
    )
    return thread


def reply(
    session: Session,
    settings: Settings,
    actor: User,
    thread: Thread,
    section: Section,
    body: str,
    mention_ids: list[int],
) -> Comment:
    if thread.resolved_at is not None:
        raise Conflict("Ce fil est résolu : rouvrez-le pour y répondre.")
    text = _checked(body)
    earlier = {c.author_id for c in _comments(session, thread)} | {thread.author_id}
    comment = _add_comment(session, actor, thread, text)
    where = place(session, section)
    told = _tell_mentioned(session, settings, actor, where, thread, text, mention_ids)
    for person in members_of(session, section):
        if person.id in earlier and person.id not in told and person.id != actor.id:
            notifications.notify(
                session,
                settings,
                person,
                "reponse",
                f"Nouvelle réponse de {actor.name} sur « {where.title} »",
                f"{actor.name} a répondu dans un fil de discussion auquel vous participez "
                f"(section « {where.title} », dossier de {where.commune}) :\n\n{_excerpt(text)}",
                where.link(thread),
                section.dossier_id,
            )
    _audit(
        session, "comment.add", actor, section, thread, comment=comment.id, mentions=sorted(told)
    )
    return comment


def resolve(session: Session, actor: User, thread: Thread, section: Section) -> None:
    if thread.resolved_at is not None:
        raise Conflict("Ce fil est déjà résolu.")
    thread.resolved_at, thread.resolved_by = utcnow(), actor.id
    session.add(thread)
    _audit(session, "thread.resolve", actor, section, thread)


def reopen(session: Session, actor: User, thread: Thread, section: Section) -> None:
    if thread.resolved_at is None:
        raise Conflict("Ce fil est déjà ouvert.")
    thread.resolved_at, thread.resolved_by = None, None
    session.add(thread)
    _audit(session, "thread.reopen", actor, section, thread)


def delete_thread(session: Session, actor: User, thread: Thread, section: Section) -> None:
    thread.deleted_at = utcnow()
    session.add(thread)
    _audit(session, "thread.delete", actor, section, thread)


def delete_comment(
    session: Session, actor: User, comment: Comment, thread: Thread, section: Section
) -> None:
    comment.deleted_at = utcnow()
    session.add(comment)
    _audit(
        session,
        "comment.delete",
        actor,
        section,
        thread,
        comment=comment.id,
        author=comment.author_id,
    )


def reattach(
    session: Session, actor: User, thread: Thread, section: Section, anchor: tuple[str, str]
) -> None:
    """Anchor a thread whose passage was deleted to a new passage of the same answer."""
    if not (thread.anchor_start and thread.anchor_end):
        raise Conflict("Ce fil porte sur toute la question : il n'a pas de passage à rattacher.")
    doc = documents.load(session, section.doc_name)
    [now] = anchors.resolve(doc, thread.question_key, [(thread.anchor_start, thread.anchor_end)])
    if now.placement != Placement.DELETED:
        raise Conflict("Le passage de ce fil existe toujours : il n'y a rien à rattacher.")
    previous = thread.quote
    thread.quote = _passage(session, section, thread.question_key, anchor)
    thread.anchor_start, thread.anchor_end = anchor
    session.add(thread)
    _audit(session, "thread.reattach", actor, section, thread, previous_quote=previous)


def _passage(session: Session, section: Section, key: str, anchor: tuple[str, str]) -> str:
    """The passage's text (the thread's quote), once its anchors are checked."""
    doc = documents.load(session, section.doc_name)
    [found] = anchors.resolve(doc, key, [anchor])
    if found.placement == Placement.PENDING:
        raise Conflict(
            "Le passage n'est pas encore enregistré : patientez un instant puis réessayez."
        )
    if found.placement != Placement.ATTACHED:
        raise Invalid(
            "Passage introuvable.",
            {"body": "Le passage choisi n'existe plus dans la réponse : choisissez-en un autre."},
        )
    quote = " ".join(found.text.split())
    return quote if len(quote) <= MAX_QUOTE else quote[: MAX_QUOTE - 1].rstrip() + "…"


def _checked(body: str) -> str:
    text = body.strip()
    if not text:
        raise Invalid("Le commentaire est vide.", {"body": "Écrivez votre commentaire."})
    if len(text) > MAX_BODY:
        limit = f"{MAX_BODY:,}".replace(",", "\u202f")
        raise Invalid(
            "Le commentaire est trop long.",
            {"body": f"Le commentaire est trop long : {limit} caractères au plus."},
        )
    return text


def _add_comment(session: Session, actor: User, thread: Thread, text: str) -> Comment:
    comment = Comment(thread_id=thread.id, author_id=actor.id, body=text)  # type: ignore[arg-type]
    session.add(comment)
    session.flush()
    return comment


def _comments(session: Session, thread: Thread) -> list[Comment]:
    return list(
        session.exec(
            select(Comment).where(Comment.thread_id == thread.id, col(Comment.deleted_at).is_(None))
        )
    )


def _tell_mentioned(
    session: Session,
    settings: Settings,
    actor: User,
    where: Place,
    thread: Thread,
    text: str,
    mention_ids: list[int],
) -> set[int]:
    """Notify whom the comment mentions (named in the text or picked); their ids."""
    people = members_of(session, where.section)
    named = {p.id for p in mentioned(text, people)}
    chosen = [p for p in people if (p.id in mention_ids or p.id in named) and p.id != actor.id]
    for person in chosen:
        notifications.notify(
            session,
            settings,
            person,
            "mention",
            f"{actor.name} vous mentionne sur « {where.title} »",
            f"{actor.name} vous a mentionné·e dans un commentaire sur la section « {where.title} » "
            f"du dossier de {where.commune} :\n\n{_excerpt(text)}",
            where.link(thread),
            where.section.dossier_id,
        )
    return {p.id for p in chosen if p.id is not None}


def members_of(session: Session, section: Section) -> list[User]:
    """The dossier's current members with an active account: whom a comment may concern."""
    return [
        user
        for _, user in dossiers.members(session, section.dossier_id)
        if user.is_active and user.id is not None
    ]


def _owners(session: Session, section: Section) -> list[User]:
    current = {u.id for u in members_of(session, section)}
    return [u for u in members.owners(session, section) if u.id in current]


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


def _audit(
    session: Session,
    kind: str,
    actor: User,
    section: Section,
    thread: Thread,
    **data: Any,
) -> None:
    audit.record(
        session,
        kind,
        actor=actor,
        dossier_id=section.dossier_id,
        target=f"thread:{thread.id}",
        section=section.id,
        **data,
    )
