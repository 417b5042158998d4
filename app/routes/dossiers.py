"""« Mes dossiers », a dossier's overview, and its JSON export."""

from __future__ import annotations

import json

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.errors import NotFound
from app.models import Role
from app.policy import Action
from app.services import dossiers, export


@endpoint(login=False)
def home(ctx: Ctx) -> Response:
    return RedirectResponse("/dossiers" if ctx.auth else "/login", status_code=303)


@endpoint()
def index(ctx: Ctx) -> Response:
    return ctx.render("dossiers/index.html", {"dossiers": dossiers.visible_to(ctx.db, ctx.user)})


def _dossier_id(ctx: Ctx) -> int:
    value = ctx.request.path_params["dossier_id"]
    if not isinstance(value, int):
        raise NotFound()
    return value


@endpoint()
def overview(ctx: Ctx) -> Response:
    ref = dossiers.ref(ctx.db, _dossier_id(ctx))
    facts = ctx.facts(ref.dossier)
    policy.require(facts, Action.DOSSIER_READ)
    views = dossiers.section_views(ctx.db, ref.dossier)
    mine_only = ctx.request.query_params.get("filtre") == "mes-sections"
    mine = [v for v in views if any(u.id == ctx.user.id for u in v.owners)]
    if facts.role == Role.producteur:
        # A producteur sees « mes sections » first.
        views = mine + [v for v in views if v not in mine]
    answered = sum(v.answered for v in views)
    total = sum(len(v.questions) for v in views)
    return ctx.render(
        "dossiers/overview.html",
        {
            "ref": ref,
            "facts": facts,
            "views": mine if mine_only else views,
            "mine_count": len(mine),
            "mine_only": mine_only,
            "members": dossiers.members(ctx.db, ref.dossier.id),  # type: ignore[arg-type]
            "answered": answered,
            "total": total,
            "activity": dossiers.activity(ctx.db, [v.section for v in views]),
            "can_export": policy.can(facts, Action.DOSSIER_EXPORT),
            "can_manage": policy.can(facts, Action.MEMBERS_MANAGE),
            "can_assign": policy.can(facts, Action.SECTION_ASSIGN),
            "can_check": policy.can(facts, Action.DOSSIER_COMPLETENESS),
            "can_submit": policy.can(facts, Action.DOSSIER_SUBMIT),
            "can_correct": policy.can(facts, Action.DOSSIER_CORRECTION),
        },
        block="sections",
    )


@endpoint()
def export_json(ctx: Ctx) -> Response:
    ref = dossiers.ref(ctx.db, _dossier_id(ctx))
    policy.require(ctx.facts(ref.dossier), Action.DOSSIER_EXPORT)
    data = export.dossier_json(ctx.db, ref.dossier.id, actor=ctx.user)  # type: ignore[arg-type]
    filename = f"dossier-{ref.dossier.id}.json"
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


routes = [
    Route("/", home, methods=["GET"], name="home"),
    Route("/dossiers", index, methods=["GET"], name="dossiers"),
    Route("/dossiers/{dossier_id:int}", overview, methods=["GET"], name="dossier"),
    Route(
        "/dossiers/{dossier_id:int}/export.json",
        export_json,
        methods=["GET"],
        name="dossier_export",
    ),
]
