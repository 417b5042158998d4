"""A section's page: its questions and current answers, rendered on the server."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.policy import Action
from app.services import dossiers


@endpoint()
def show(ctx: Ctx) -> Response:
    section, ref = dossiers.section_of(ctx.db, ctx.request.path_params["section_id"])
    facts = ctx.facts(ref.dossier, section)
    policy.require(facts, Action.SECTION_READ)
    view = dossiers.section_view(ctx.db, section)
    siblings = dossiers.section_list(ctx.db, ref.dossier)
    index = next(i for i, (s, _) in enumerate(siblings) if s.id == section.id)
    return ctx.render(
        "sections/show.html",
        {
            "ref": ref,
            "view": view,
            "facts": facts,
            "can_write": policy.can(facts, Action.SECTION_WRITE),
            "previous": siblings[index - 1] if index > 0 else None,
            "next": siblings[index + 1] if index + 1 < len(siblings) else None,
            "position": index + 1,
            "count": len(siblings),
        },
        block="answers",
    )


routes = [Route("/sections/{section_id:int}", show, methods=["GET"], name="section")]
