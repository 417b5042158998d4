"""A person's notifications (the in-app list) and how they want them mailed."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.context import Ctx, endpoint
from app.errors import Invalid
from app.services import notifications

SAVED = "Votre choix est enregistré."


def _page(ctx: Ctx, problems: dict[str, str] | None = None, status: int = 200) -> Response:
    return ctx.render(
        "notifications/index.html",
        {
            "notices": notifications.recent(ctx.db, ctx.user),
            "modes": notifications.MODES,
            "problems": problems or {},
            "saved": ctx.request.query_params.get("ok") == "mode",
        },
        status=status,
    )


@endpoint()
def index(ctx: Ctx) -> Response:
    return _page(ctx)


@endpoint()
def read(ctx: Ctx) -> Response:
    """Mark one notification read (`id`) or all of them, then go where it points."""
    raw = ctx.field("id")
    target = "/notifications"
    if raw.isdigit():
        notice_id = int(raw)
        notifications.mark_read(ctx.db, ctx.user, notice_id)
        own = {n.id: n for n in notifications.recent(ctx.db, ctx.user)}
        if notice_id in own and own[notice_id].link.startswith("/"):
            target = own[notice_id].link
    else:
        notifications.mark_read(ctx.db, ctx.user)
    return RedirectResponse(target, status_code=303)


@endpoint()
def mode(ctx: Ctx) -> Response:
    try:
        notifications.set_mode(ctx.db, ctx.user, ctx.field("mode"))
    except Invalid as exc:
        ctx.db.rollback()
        return _page(ctx, exc.problems, status=422)
    return RedirectResponse("/notifications?ok=mode", status_code=303)


routes = [
    Route("/notifications", index, methods=["GET"]),
    Route("/notifications/lues", read, methods=["POST"]),
    Route("/notifications/mode", mode, methods=["POST"]),
]
