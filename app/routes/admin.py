"""Administration (association staff): accounts and the outbox of mails."""

from __future__ import annotations

from sqlmodel import col, select
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.errors import NotFound
from app.models import OutboxMail, User
from app.policy import Action
from app.services import accounts

DONE = {
    "desactive": "Le compte est désactivé : toutes ses sessions ont pris fin.",
    "active": "Le compte est réactivé.",
}


def _require(ctx: Ctx, action: Action) -> None:
    policy.require(policy.platform_facts(ctx.user), action)


@endpoint()
def users(ctx: Ctx) -> Response:
    _require(ctx, Action.ACCOUNTS_MANAGE)
    return ctx.render(
        "admin/users.html",
        {
            "users": accounts.all_users(ctx.db),
            "done": DONE.get(ctx.request.query_params.get("ok", "")),
        },
    )


@endpoint()
def set_active(ctx: Ctx) -> Response:
    _require(ctx, Action.ACCOUNTS_MANAGE)
    person = ctx.db.get(User, ctx.request.path_params["user_id"])
    if person is None:
        raise NotFound()
    active = ctx.field("actif") == "1"
    accounts.set_active(ctx.db, ctx.user, person, active)
    return RedirectResponse(
        f"/admin/comptes?ok={'active' if active else 'desactive'}", status_code=303
    )


@endpoint()
def outbox(ctx: Ctx) -> Response:
    _require(ctx, Action.OUTBOX_READ)
    mails = ctx.db.exec(select(OutboxMail).order_by(col(OutboxMail.id).desc()).limit(200)).all()
    return ctx.render("admin/outbox.html", {"mails": mails, "smtp": bool(ctx.settings.smtp_url)})


@endpoint()
def mail(ctx: Ctx) -> Response:
    _require(ctx, Action.OUTBOX_READ)
    found = ctx.db.get(OutboxMail, ctx.request.path_params["mail_id"])
    if found is None:
        raise NotFound()
    return ctx.render("admin/mail.html", {"mail": found})


routes = [
    Route("/admin/comptes", users, methods=["GET"], name="admin_users"),
    Route(
        "/admin/comptes/{user_id:int}/actif", set_active, methods=["POST"], name="admin_user_active"
    ),
    Route("/admin/courriels", outbox, methods=["GET"], name="admin_outbox"),
    Route("/admin/courriels/{mail_id:int}", mail, methods=["GET"], name="admin_mail"),
]
