"""« Se connecter avec ProConnect » : the OpenID Connect redirect and callback."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import ratelimit
from app.auth.oidc import STATE_COOKIE, STATE_MAX_AGE, OidcClient, OidcError
from app.context import Ctx, endpoint, safe_next
from app.errors import DomainError, NotFound, error_response
from app.routes.auth import start_session
from app.services import accounts, audit

COOKIE_PATH = "/auth/oidc"


class OidcFailed(DomainError):
    status_code = 400
    title = "Connexion impossible"


def _client(ctx: Ctx) -> OidcClient:
    client: OidcClient | None = ctx.request.app.state.oidc
    if client is None:
        raise NotFound()
    return client


@endpoint(login=False)
def start(ctx: Ctx) -> Response:
    client = _client(ctx)
    ctx.limiter.check(ratelimit.LOGIN_BY_IP, ctx.client_ip)
    try:
        url, cookie = client.start(safe_next(ctx.request.query_params.get("next")))
    except OidcError as exc:
        raise OidcFailed(str(exc)) from exc
    response = RedirectResponse(url, status_code=303)
    # SameSite=Lax: the provider sends the browser back with a top-level GET, which carries it.
    response.set_cookie(
        STATE_COOKIE,
        cookie,
        max_age=STATE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.https,
        path=COOKIE_PATH,
    )
    return response


@endpoint(login=False)
def callback(ctx: Ctx) -> Response:
    client = _client(ctx)
    ctx.limiter.check(ratelimit.LOGIN_BY_IP, ctx.client_ip)
    params = dict(ctx.request.query_params.items())
    try:
        identity, next_url = client.finish(params, ctx.request.cookies.get(STATE_COOKIE))
    except OidcError as exc:
        # Answer with the error page rather than raising: an exception would roll back this
        # request's transaction, and the audit event with it.
        audit.record(ctx.db, "auth.login_failed", target="oidc", reason=str(exc))
        return error_response(ctx.request, OidcFailed.status_code, OidcFailed.title, str(exc))
    user = accounts.from_oidc(ctx.db, identity)
    response = start_session(
        ctx, user, safe_next(next_url), method="oidc", id_token=identity.id_token
    )
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
    return response


routes = [
    Route("/auth/oidc/login", start, methods=["GET"], name="oidc_login"),
    Route("/auth/oidc/callback", callback, methods=["GET"], name="oidc_callback"),
]
