"""Comment threads over HTTP: a section's lists, their live feed, and every change to them.

Every form works without JavaScript: a POST answers 303 back to the thread on the section page,
or 422 with the section page and the form's error. `static/js/comments.js` posts them in place
as htmx requests: the answer is then every question's list of the section, to swap out of band
by id, plus the element to focus once swapped (`HX-Trigger-After-Settle`). After each committed
change the section's feed (`app.services.comment_feed`) tells every open page of the section to
re-fetch its lists.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from app import htmx, policy
from app.auth import sessions
from app.context import Ctx, endpoint
from app.errors import Forbidden, Invalid
from app.models import Section, Thread
from app.policy import Action
from app.routes import sections as section_pages
from app.services import audit, comments, discussions, dossiers
from app.services.comment_feed import Feed, FeedEvent, FeedFull

# A stream ends after this long and the browser reconnects (EventSource does it by itself): so
# no stream outlives a server shutdown by more than this, and each reconnection checks again
# that the person may still read the section. Heartbeats let a dead connection be noticed.
STREAM_SECONDS = 30.0
HEARTBEAT_SECONDS = 15.0
RETRY_MS = 2000


@dataclass(frozen=True)
class FormError:
    """A comment form sent back with its error and what was typed in it."""

    form: str  # the form's field id: "nouveau-{question}" or "repondre-{thread}"
    message: str
    body: str
    mentions: list[int] = field(default_factory=list)
    anchor_start: str = ""
    anchor_end: str = ""
    quote: str = ""


def _lists(
    ctx: Ctx,
    section: Section,
    ref: dossiers.DossierRef,
    error: FormError | None = None,
    status: int = 200,
) -> Response:
    facts = ctx.facts(ref.dossier, section)
    return ctx.render(
        "comments/lists.html",
        {
            "section": section,
            "questions": discussions.questions(ctx.db, section),
            "discussion": discussions.discussion(ctx.db, ctx.user, section, facts),
            "comment_error": error,
        },
        status=status,
    )


def _done(ctx: Ctx, section: Section, ref: dossiers.DossierRef, focus: str, ok: str) -> Response:
    """`ok` names the message of the section page (`sections.DONE`) after a plain POST."""
    if not htmx.is_htmx(ctx.request):
        return RedirectResponse(f"/sections/{section.id}?ok={ok}#{focus}", status_code=303)
    response = _lists(ctx, section, ref)
    # After the swap, not before (HX-Trigger fires as soon as the answer arrives).
    response.headers["HX-Trigger-After-Settle"] = json.dumps({"commentaires:focus": focus})
    return response


def _refused(
    ctx: Ctx, section: Section, ref: dossiers.DossierRef, form: str, exc: Invalid
) -> Response:
    ctx.db.rollback()
    error = FormError(
        form=form,
        message=next(iter(exc.problems.values()), exc.message),
        body=ctx.field("body"),
        mentions=_mentions(ctx),
        anchor_start=ctx.field("anchor_start"),
        anchor_end=ctx.field("anchor_end"),
        quote=ctx.field("quote"),
    )
    if htmx.is_htmx(ctx.request):
        return _lists(ctx, section, ref, error, status=422)
    return section_pages.page(ctx, section, ref, status=422, extra={"comment_error": error})


def _announce(ctx: Ctx, section: Section, thread: Thread, change: str) -> None:
    """Tell the section's open pages, once (and only if) the change is committed."""
    feed: Feed = ctx.request.app.state.comment_feed
    news = FeedEvent(section.id or 0, thread.id, change)
    event.listen(ctx.db, "after_commit", lambda _session: feed.publish(news), once=True)


def _mentions(ctx: Ctx) -> list[int]:
    return [int(v) for v in ctx.fields("mentions") if v.isdigit()][:100]


def _anchor(ctx: Ctx) -> tuple[str, str] | None:
    start, end = ctx.field("anchor_start").strip(), ctx.field("anchor_end").strip()
    if not start and not end:
        return None
    if not (start and end):
        raise Invalid("Passage incomplet.", {"body": "Sélectionnez de nouveau le passage."})
    return start, end


def _form_id(prefix: str, key: str | int) -> str:
    return f"{prefix}-{str(key).replace('.', '-')}"


# --- Reading ---------------------------------------------------------------------------------


@endpoint()
def lists(ctx: Ctx) -> Response:
    """Every question's list of the section (what the page swaps in when the feed speaks)."""
    section, ref = dossiers.section_of(ctx.db, ctx.request.path_params["section_id"])
    policy.require(ctx.facts(ref.dossier, section), Action.COMMENT_READ)
    if not htmx.is_htmx(ctx.request):
        return RedirectResponse(f"/sections/{section.id}", status_code=303)
    return _lists(ctx, section, ref)


async def follow(request: Request) -> Response:
    """The section's feed (server-sent events). Not an `@endpoint`: a stream reconnects every
    `STREAM_SECONDS`, and counting that as activity would keep an open tab's session from ever
    going idle. So the session is checked without being touched; refusals are audited the same."""
    section_id = request.path_params["section_id"]
    if not await run_in_threadpool(_may_follow, request, section_id):
        return PlainTextResponse("Connexion requise.", status_code=401)
    feed: Feed = request.app.state.comment_feed
    return StreamingResponse(
        _stream(request, feed, section_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _may_follow(request: Request, section_id: int) -> bool:
    """False without a live session; raises Forbidden (after auditing it) when refused."""
    database = request.app.state.db
    token = request.cookies.get(sessions.COOKIE_NAME)
    with database.session() as db:
        user = sessions.live_user(db, request.app.state.settings, sessions.digest(token or ""))
        if user is None:
            return False
        section, ref = dossiers.section_of(db, section_id)
        if policy.can(policy.facts_for(db, user, ref.dossier, section), Action.COMMENT_READ):
            return True
    with database.session() as db:
        target = f"{request.method} {request.url.path}"
        audit.record(db, "policy.denied", actor_id=user.id, target=target)
    raise Forbidden()


async def _stream(request: Request, feed: Feed, section_id: int) -> AsyncIterator[str]:
    try:
        async with feed.subscribe(section_id) as subscription:
            # Subscribed first, then the state: a change in between is in one or the other.
            version = await run_in_threadpool(_version, request, section_id)
            yield f"retry: {RETRY_MS}\nevent: etat\ndata: {json.dumps({'version': version})}\n\n"
            loop = asyncio.get_running_loop()
            end = loop.time() + STREAM_SECONDS
            while (left := end - loop.time()) > 0:
                news = await subscription.next(min(HEARTBEAT_SECONDS, left))
                yield news.to_sse() if news else ": rien de neuf\n\n"
    except FeedFull:
        yield "retry: 60000\n\n"  # the page works without it; try again later


def _version(request: Request, section_id: int) -> str:
    with request.app.state.db.session() as db:
        return discussions.version(db, section_id)


# --- Changes ---------------------------------------------------------------------------------


@endpoint()
def open_thread(ctx: Ctx) -> Response:
    section, ref = dossiers.section_of(ctx.db, ctx.request.path_params["section_id"])
    policy.require(ctx.facts(ref.dossier, section), Action.COMMENT_WRITE)
    question = comments.question_of(ctx.db, section, ctx.field("question"))
    form = _form_id("nouveau", question.cle)
    try:
        thread = comments.open_thread(
            ctx.db,
            ctx.settings,
            ctx.user,
            section,
            question,
            ctx.field("body"),
            _mentions(ctx),
            _anchor(ctx),
        )
    except Invalid as exc:
        return _refused(ctx, section, ref, form, exc)
    _announce(ctx, section, thread, "fil")
    return _done(ctx, section, ref, f"fil-{thread.id}", "commentaire")


@endpoint()
def reply(ctx: Ctx) -> Response:
    thread, section = comments.thread_of(ctx.db, ctx.request.path_params["thread_id"])
    ref = dossiers.ref(ctx.db, section.dossier_id)
    policy.require(ctx.facts(ref.dossier, section), Action.COMMENT_WRITE)
    try:
        comment = comments.reply(
            ctx.db, ctx.settings, ctx.user, thread, section, ctx.field("body"), _mentions(ctx)
        )
    except Invalid as exc:
        return _refused(ctx, section, ref, _form_id("repondre", thread.id or 0), exc)
    _announce(ctx, section, thread, "reponse")
    return _done(ctx, section, ref, f"commentaire-{comment.id}", "reponse")


@endpoint()
def resolve(ctx: Ctx) -> Response:
    return _thread_change(ctx, Action.THREAD_RESOLVE, comments.resolve, "resolu")


@endpoint()
def reopen(ctx: Ctx) -> Response:
    return _thread_change(ctx, Action.THREAD_RESOLVE, comments.reopen, "rouvert")


@endpoint()
def delete_thread(ctx: Ctx) -> Response:
    return _thread_change(ctx, Action.COMMENT_MODERATE, comments.delete_thread, "fil-supprime")


def _thread_change(ctx: Ctx, action: Action, change: Any, name: str) -> Response:
    thread, section = comments.thread_of(ctx.db, ctx.request.path_params["thread_id"])
    ref = dossiers.ref(ctx.db, section.dossier_id)
    policy.require(ctx.facts(ref.dossier, section), action)
    change(ctx.db, ctx.user, thread, section)
    _announce(ctx, section, thread, name)
    gone = thread.deleted_at is not None
    focus = _form_id("commentaires", thread.question_key) if gone else f"fil-{thread.id}"
    return _done(ctx, section, ref, focus + ("-titre" if gone else ""), name)


@endpoint()
def reattach(ctx: Ctx) -> Response:
    thread, section = comments.thread_of(ctx.db, ctx.request.path_params["thread_id"])
    ref = dossiers.ref(ctx.db, section.dossier_id)
    policy.require(ctx.facts(ref.dossier, section), Action.COMMENT_WRITE)
    anchor = _anchor(ctx)
    if anchor is None:
        raise Invalid("Sélectionnez d'abord le nouveau passage dans la réponse.")
    comments.reattach(ctx.db, ctx.user, thread, section, anchor)
    _announce(ctx, section, thread, "rattache")
    return _done(ctx, section, ref, f"fil-{thread.id}", "rattache")


@endpoint()
def delete_comment(ctx: Ctx) -> Response:
    comment, thread, section = comments.comment_of(ctx.db, ctx.request.path_params["comment_id"])
    ref = dossiers.ref(ctx.db, section.dossier_id)
    facts = ctx.facts(ref.dossier, section)
    if not policy.may_delete_comment(facts, comment.author_id == ctx.user.id):
        raise Forbidden()
    comments.delete_comment(ctx.db, ctx.user, comment, thread, section)
    _announce(ctx, section, thread, "commentaire-supprime")
    return _done(ctx, section, ref, f"fil-{thread.id}", "commentaire-supprime")


_FIL = "/commentaires/fils/{thread_id:int}"
routes = [
    Route("/sections/{section_id:int}/commentaires", lists, methods=["GET"]),
    Route("/sections/{section_id:int}/commentaires", open_thread, methods=["POST"]),
    Route("/sections/{section_id:int}/commentaires/flux", follow, methods=["GET"]),
    Route(f"{_FIL}/repondre", reply, methods=["POST"]),
    Route(f"{_FIL}/resoudre", resolve, methods=["POST"]),
    Route(f"{_FIL}/rouvrir", reopen, methods=["POST"]),
    Route(f"{_FIL}/supprimer", delete_thread, methods=["POST"]),
    Route(f"{_FIL}/rattacher", reattach, methods=["POST"]),
    Route("/commentaires/{comment_id:int}/supprimer", delete_comment, methods=["POST"]),
]
