"""The threads of a section as one person sees them: for the section page and its live list.

Each thread comes with what this person may do to it (the policy decides, the page only shows
the buttons), and, for a passage, where the passage is now (`app.services.anchors`): attached
(with its current text), deleted (« passage supprimé », with the quote kept at its creation) or
pending (an edit the server has not stored yet).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app import policy
from app.models import Comment, Question, Section, Thread, User
from app.policy import Action
from app.services import anchors, documents
from app.services.anchors import Placement
from app.services.comments import QUESTION, members_of, mention_parts


@dataclass(frozen=True)
class CommentView:
    comment: Comment
    author: str
    parts: list[tuple[str, bool]]  # the text, cut around mentions (True: a mention)
    may_delete: bool

    @property
    def deleted(self) -> bool:
        return self.comment.deleted_at is not None


@dataclass(frozen=True)
class ThreadView:
    thread: Thread
    author: str
    comments: list[CommentView]
    placement: str  # QUESTION, or an anchors.Placement
    passage: str  # the passage as it reads now (attached), else the quote
    resolved_by: str = ""
    may_reply: bool = False
    may_resolve: bool = False
    may_delete: bool = False
    may_reattach: bool = False

    @property
    def resolved(self) -> bool:
        return self.thread.resolved_at is not None

    @property
    def detached(self) -> bool:
        return self.placement == Placement.DELETED


@dataclass(frozen=True)
class Discussion:
    section_id: int
    threads: dict[str, list[ThreadView]] = field(default_factory=dict)
    members: list[User] = field(default_factory=list)  # whom one may mention (not oneself)
    may_write: bool = False
    version: str = ""  # changes whenever a thread or comment does (see `version`)

    def of(self, key: str) -> list[ThreadView]:
        return self.threads.get(key, [])

    def open_count(self, key: str) -> int:
        return sum(1 for t in self.of(key) if not t.resolved)


def discussion(
    session: Session, actor: User, section: Section, facts: policy.Facts
) -> Discussion | None:
    """The section's threads as `actor` sees them, or None when they may not read them."""
    if not policy.can(facts, Action.COMMENT_READ):
        return None
    threads = list(
        session.exec(
            select(Thread)
            .where(Thread.section_id == section.id, col(Thread.deleted_at).is_(None))
            .order_by(col(Thread.id))
        )
    )
    comments: dict[int, list[Comment]] = {}
    for comment in session.exec(
        select(Comment)
        .where(col(Comment.thread_id).in_([t.id for t in threads]))
        .order_by(col(Comment.id))
    ):
        comments.setdefault(comment.thread_id, []).append(comment)
    people = members_of(session, section)
    names = _names(session, threads, comments)
    placements = _placements(session, section, threads)
    views: dict[str, list[ThreadView]] = {}
    for thread in threads:
        views.setdefault(thread.question_key, []).append(
            _thread_view(thread, comments.get(thread.id or 0, []), facts, names, people, placements)
        )
    return Discussion(
        section_id=section.id or 0,
        threads=views,
        members=[p for p in people if p.id != actor.id],
        may_write=policy.can(facts, Action.COMMENT_WRITE),
        version=version(session, section.id or 0),
    )


def _thread_view(
    thread: Thread,
    comments: list[Comment],
    facts: policy.Facts,
    names: dict[int, str],
    people: list[User],
    placements: dict[int, anchors.Resolution],
) -> ThreadView:
    found = placements.get(thread.id or 0)
    placement = found.placement if found else QUESTION
    writes = policy.can(facts, Action.COMMENT_WRITE)
    resolved = thread.resolved_at is not None
    return ThreadView(
        thread=thread,
        author=names.get(thread.author_id, ""),
        comments=[
            CommentView(
                c,
                names.get(c.author_id, ""),
                mention_parts(c.body, people),
                policy.may_delete_comment(facts, c.author_id == facts.user.id),
            )
            for c in comments
        ],
        placement=placement,
        passage=found.text if found and found.placement == Placement.ATTACHED else thread.quote,
        resolved_by=names.get(thread.resolved_by or 0, ""),
        may_reply=writes and not resolved,
        may_resolve=policy.can(facts, Action.THREAD_RESOLVE),
        may_delete=policy.can(facts, Action.COMMENT_MODERATE),
        may_reattach=writes and placement == Placement.DELETED,
    )


def _placements(
    session: Session, section: Section, threads: list[Thread]
) -> dict[int, anchors.Resolution]:
    anchored = [t for t in threads if t.anchor_start and t.anchor_end]
    if not anchored:
        return {}
    doc = documents.load(session, section.doc_name)
    found: dict[int, anchors.Resolution] = {}
    for key in {t.question_key for t in anchored}:
        mine = [t for t in anchored if t.question_key == key]
        pairs = [(t.anchor_start or "", t.anchor_end or "") for t in mine]
        for thread, resolution in zip(mine, anchors.resolve(doc, key, pairs), strict=True):
            found[thread.id or 0] = resolution
    return found


def _names(
    session: Session, threads: list[Thread], comments: dict[int, list[Comment]]
) -> dict[int, str]:
    ids = {t.author_id for t in threads} | {t.resolved_by for t in threads if t.resolved_by}
    ids |= {c.author_id for batch in comments.values() for c in batch}
    rows = session.exec(select(User.id, User.name).where(col(User.id).in_(ids)))
    return {int(user_id): name for user_id, name in rows if user_id is not None}


def version(session: Session, section_id: int) -> str:
    """A digest of the section's threads and comments: a page compares it with the feed's to
    know whether it missed a change (between its rendering and its subscription)."""
    threads = session.exec(
        select(Thread.id, Thread.anchor_start, Thread.resolved_at, Thread.deleted_at)
        .where(Thread.section_id == section_id)
        .order_by(col(Thread.id))
    ).all()
    comments = session.exec(
        select(Comment.id, Comment.deleted_at)
        .join(Thread, col(Thread.id) == Comment.thread_id)
        .where(Thread.section_id == section_id)
        .order_by(col(Comment.id))
    ).all()
    return hashlib.sha256(repr((threads, comments)).encode()).hexdigest()[:16]


def questions(session: Session, section: Section) -> list[Question]:
    """The section's questions in order: each has its block of threads."""
    return list(
        session.exec(
            select(Question)
            .where(Question.theme_id == section.theme_id)
            .order_by(col(Question.ordre))
        )
    )
