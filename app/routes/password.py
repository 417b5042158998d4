"""« Mot de passe oublié » : ask for a link, then choose a new password."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import ratelimit
from app.context import Ctx, endpoint
from app.errors import Invalid
from app.services import accounts, password_reset

SENT = (
    "Si un compte existe pour cette adresse, un courriel vient de lui être envoyé avec un lien "
    "valable une heure."
)


@endpoint(login=False)
def forgot_form(ctx: Ctx) -> Response:
    return ctx.render("auth/forgot.html", {"problems": {}, "sent": False, "email": ""})


@endpoint(login=False)
def forgot(ctx: Ctx) -> Response:
    email = ctx.field("email").strip()
    if not accounts.is_email(email.lower()):
        return ctx.render(
            "auth/forgot.html",
            {
                "problems": {"email": "Saisissez une adresse e-mail valide."},
                "sent": False,
                "email": email,
            },
            status=422,
        )
    ctx.limiter.check(ratelimit.RESET_BY_IP, ctx.client_ip)
    ctx.limiter.check(ratelimit.RESET_BY_EMAIL, email.lower())
    password_reset.request_reset(ctx.db, ctx.settings, email)
    # The same page whether the account exists or not: no account enumeration.
    return ctx.render("auth/forgot.html", {"problems": {}, "sent": True, "email": ""})


@endpoint(login=False)
def reset_form(ctx: Ctx) -> Response:
    ctx.limiter.check(ratelimit.RESET_BY_IP, ctx.client_ip)
    password_reset.usable(ctx.db, ctx.request.path_params["token"])
    return ctx.render("auth/reset.html", {"problems": {}})


@endpoint(login=False)
def reset(ctx: Ctx) -> Response:
    ctx.limiter.check(ratelimit.RESET_BY_IP, ctx.client_ip)
    try:
        password_reset.reset(
            ctx.db,
            ctx.request.path_params["token"],
            ctx.field("password"),
            ctx.field("confirmation"),
        )
    except Invalid as exc:
        ctx.db.rollback()
        return ctx.render("auth/reset.html", {"problems": exc.problems}, status=422)
    return RedirectResponse("/login?reinitialise=1", status_code=303)


routes = [
    Route("/mot-de-passe-oublie", forgot_form, methods=["GET"], name="forgot_form"),
    Route("/mot-de-passe-oublie", forgot, methods=["POST"], name="forgot"),
    Route("/mot-de-passe/{token}", reset_form, methods=["GET"], name="reset_form"),
    Route("/mot-de-passe/{token}", reset, methods=["POST"], name="reset"),
]
