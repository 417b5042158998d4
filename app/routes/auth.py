"""Login and logout with e-mail and password."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import ratelimit
from app.auth import sessions
from app.auth.oidc import OidcError
from app.context import Ctx, endpoint, safe_next
from app.models import User
from app.services import accounts, audit

LOGIN_FAILED = "Adresse e-mail ou mot de passe incorrect."


@endpoint(login=False)
def login_form(ctx: Ctx) -> Response:
    if ctx.auth is not None:
        return RedirectResponse(safe_next(ctx.request.query_params.get("next")), status_code=303)
    return _form(ctx)


def _form(ctx: Ctx, problems: dict[str, str] | None = None, email: str = "") -> Response:
    return ctx.render(
        "auth/login.html",
        {
            "problems": problems or {},
            "email": email,
            "next": safe_next(ctx.request.query_params.get("next") or ctx.field("next")),
            "oidc": ctx.settings.oidc_enabled,
        },
        status=422 if problems else 200,
    )


@endpoint(login=False)
def login(ctx: Ctx) -> Response:
    email, password = ctx.field("email").strip(), ctx.field("password")
    problems = {}
    if not email:
        problems["email"] = "Saisissez votre adresse e-mail."
    if not password:
        problems["password"] = "Saisissez votre mot de passe."  # noqa: S105 - a message
    if problems:
        return _form(ctx, problems, email)
    ctx.limiter.check(ratelimit.LOGIN_BY_IP, ctx.client_ip)
    ctx.limiter.check(ratelimit.LOGIN_BY_EMAIL, accounts.normalise_email(email))
    user = accounts.authenticate(ctx.db, email, password)
    if user is None:
        # Same message whether the e-mail is known or not: no account enumeration.
        audit.record(ctx.db, "auth.login_failed", target=f"email:{accounts.normalise_email(email)}")
        return _form(ctx, {"email": LOGIN_FAILED}, email)
    return start_session(ctx, user, safe_next(ctx.field("next")), method="password")


def start_session(
    ctx: Ctx, user: User, url: str, method: str, id_token: str | None = None
) -> Response:
    """Log `user` in: a new server-side session, its cookie, and an audit event."""
    token = sessions.open_session(
        ctx.db, ctx.settings, user, ctx.request.headers.get("user-agent", ""), id_token
    )
    audit.record(ctx.db, "auth.login", actor=user, target=f"user:{user.id}", method=method)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=ctx.settings.session_max_age,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.https,
        path="/",
    )
    return response


@endpoint(login=False)
def logout(ctx: Ctx) -> Response:
    row = sessions.close(ctx.db, ctx.request.cookies.get(sessions.COOKIE_NAME))
    if row is not None and ctx.auth is not None:
        audit.record(ctx.db, "auth.logout", actor=ctx.auth.user, target=f"user:{row.user_id}")
    after = "/login?deconnecte=1"
    url: str | None = None
    oidc = ctx.request.app.state.oidc
    if row is not None and row.oidc_id_token and oidc is not None:
        # Also end the session at the identity provider (ProConnect asks for id_token_hint).
        try:
            url = oidc.logout_url(row.oidc_id_token, ctx.settings.base_url.rstrip("/") + after)
        except OidcError:
            url = None
    url = url or after
    response = RedirectResponse(url, status_code=303)
    response.delete_cookie(
        sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=ctx.settings.https
    )
    return response


routes = [
    Route("/login", login_form, methods=["GET"], name="login_form"),
    Route("/login", login, methods=["POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
]
