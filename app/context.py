"""How a route runs: one database transaction, the authenticated person, CSRF, rendering.

Route handlers are plain synchronous functions `handler(ctx) -> Response`, run in the thread
pool (the database driver is synchronous); `endpoint` wraps them into Starlette endpoints.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from anyio import from_thread
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import htmx, policy
from app.auth import sessions
from app.errors import Forbidden
from app.models import Dossier, Section, User
from app.ratelimit import RateLimiter
from app.services import audit, mail, notifications
from app.settings import Settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Bounds on what a form may carry, so a forged request cannot make us buffer megabytes.
MAX_FORM_FIELDS = 200
MAX_FORM_PART = 64 * 1024


@dataclass
class Ctx:
    request: Request
    db: Session
    settings: Settings
    auth: sessions.Authenticated | None
    form: FormData | None

    @property
    def user(self) -> User:
        if self.auth is None:
            raise Forbidden()
        return self.auth.user

    @property
    def limiter(self) -> RateLimiter:
        limiter: RateLimiter = self.request.app.state.limiter
        return limiter

    @property
    def client_ip(self) -> str:
        return self.request.client.host if self.request.client else "inconnu"

    def fields(self, name: str) -> list[str]:
        """Every value sent for `name` (checkboxes)."""
        if self.form is None:
            return []
        return [v for v in self.form.getlist(name) if isinstance(v, str)]

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else ""

    def facts(self, dossier: Dossier, section: Section | None = None) -> policy.Facts:
        return policy.facts_for(self.db, self.user, dossier, section)

    def render(
        self,
        template: str,
        context: dict[str, Any] | None = None,
        *,
        block: str | None = None,
        status: int = 200,
    ) -> Response:
        """The page, or only `block` of it when htmx asked for a fragment."""
        user = self.auth.user if self.auth else None
        full = {
            "user": user,
            "csrf_token": self.auth.csrf_token if self.auth else "",
            "unread": notifications.unread_count(self.db, user) if user else 0,
            **(context or {}),
        }
        templates = self.request.app.state.templates
        if block and htmx.is_htmx(self.request):
            response: Response = templates.TemplateResponse(
                self.request, template, full, status_code=status, block_name=block
            )
        else:
            response = templates.TemplateResponse(self.request, template, full, status_code=status)
        return htmx.vary(response)


Handler = Callable[[Ctx], Response]


def endpoint(*, login: bool = True) -> Callable[[Handler], Callable[[Request], Any]]:
    def wrap(handler: Handler) -> Callable[[Request], Any]:
        async def route(request: Request) -> Response:
            form = None
            if request.method not in SAFE_METHODS:
                form = await request.form(max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART)
            try:
                return await run_in_threadpool(_run, handler, login, request, form)
            finally:
                if form is not None:
                    await form.close()

        route.__name__ = handler.__name__
        route.__doc__ = handler.__doc__
        return route

    return wrap


def _run(handler: Handler, login: bool, request: Request, form: FormData | None) -> Response:
    settings: Settings = request.app.state.settings
    auth: sessions.Authenticated | None = None
    actor_id: int | None = None
    try:
        with request.app.state.db.session() as db:
            auth = sessions.resolve(db, settings, request.cookies.get(sessions.COOKIE_NAME))
            actor_id = auth.user.id if auth else None
            if login and auth is None:
                return login_redirect(request)
            if auth is not None and request.method not in SAFE_METHODS:
                _check_csrf(request, form, auth)
            response = handler(Ctx(request, db, settings, auth, form))
            queued = db.info.pop(mail.QUEUED, False)
            rights_changed = db.info.pop(audit.RIGHTS_CHANGED, False)
    except Forbidden:
        # The refused request's own transaction was rolled back (it changes nothing); the
        # refusal itself is recorded in a transaction of its own.
        with request.app.state.db.session() as db:
            audit.record(
                db,
                "policy.denied",
                actor_id=actor_id,
                target=f"{request.method} {request.url.path}",
            )
        raise
    if rights_changed:
        from_thread.run(request.app.state.collab_recheck)
    sender = getattr(request.app.state, "mailer", None)
    if queued and sender is not None:
        from_thread.run_sync(sender.wake)
    if auth is not None:
        # Personal pages must not be kept by shared caches or the back button after logout.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _check_csrf(request: Request, form: FormData | None, auth: sessions.Authenticated) -> None:
    sent = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) if form else None)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, auth.csrf_token):
        raise Forbidden("Le formulaire a expiré ou ne vient pas de ce site. Rechargez la page.")


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(target, safe='/')}"
    if htmx.is_htmx(request):
        return htmx.redirect(Response(status_code=204), url)
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only local paths: `next=//evil.example` or `next=https://…` would be an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/dossiers"
    return value
