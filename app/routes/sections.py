"""A section's page (its questions and current answers, rendered on the server), and its
workflow: « J'ai terminé », « Valider », « Renvoyer en rédaction », « Rouvrir »."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.errors import Invalid
from app.models import Section
from app.policy import Action
from app.services import discussions, dossiers, workflow

# Messages shown after a redirect (POST → 303 → GET), keyed by the `ok` query parameter.
DONE = {
    "terminer": "La section est marquée comme terminée ; les référent·es sont prévenu·es.",
    "valider": "La section est validée : plus personne ne peut la modifier.",
    "renvoyer": "La section est renvoyée en rédaction ; ses responsables sont prévenu·es.",
    "rouvrir": "La section est rouverte : elle peut de nouveau être modifiée.",
    # Comment threads (app/routes/comments.py), when the page was posted without JavaScript.
    "commentaire": "Votre commentaire est publié.",
    "reponse": "Votre réponse est publiée.",
    "resolu": "Le fil est marqué comme résolu.",
    "rouvert": "Le fil est rouvert.",
    "fil-supprime": "Le fil est supprimé.",
    "commentaire-supprime": "Le commentaire est supprimé.",
    "rattache": "Le fil est rattaché au nouveau passage.",
}


def page(
    ctx: Ctx,
    section: Section,
    ref: dossiers.DossierRef,
    problems: dict[str, str] | None = None,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The section page; `extra` for what another resource's form sends back (a comment's)."""
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
            "transitions": workflow.available(facts),
            "max_message": workflow.MAX_MESSAGE,
            "problems": problems or {},
            "form": ctx.form,
            "done": DONE.get(ctx.request.query_params.get("ok", "")),
            "previous": siblings[index - 1] if index > 0 else None,
            "next": siblings[index + 1] if index + 1 < len(siblings) else None,
            "position": index + 1,
            "count": len(siblings),
            "discussion": discussions.discussion(ctx.db, ctx.user, section, facts),
            **(extra or {}),
        },
        block="answers",
        status=status,
    )


@endpoint()
def show(ctx: Ctx) -> Response:
    section, ref = dossiers.section_of(ctx.db, ctx.request.path_params["section_id"])
    return page(ctx, section, ref)


@endpoint()
def change_status(ctx: Ctx) -> Response:
    section, ref = dossiers.section_of(ctx.db, ctx.request.path_params["section_id"])
    transition = workflow.get(ctx.request.path_params["transition"])
    policy.require(ctx.facts(ref.dossier, section), transition.action)
    try:
        workflow.apply(ctx.db, ctx.settings, ctx.user, section, transition, ctx.field("message"))
    except Invalid as exc:
        ctx.db.rollback()
        # The form's textarea is `message-{transition}`: the error summary links to it.
        problems = {f"message-{transition.name}": text for text in exc.problems.values()}
        return page(ctx, section, ref, problems, status=422)
    return RedirectResponse(f"/sections/{section.id}?ok={transition.name}", status_code=303)


routes = [
    Route("/sections/{section_id:int}", show, methods=["GET"], name="section"),
    Route(
        "/sections/{section_id:int}/statut/{transition}",
        change_status,
        methods=["POST"],
        name="section_status",
    ),
]
