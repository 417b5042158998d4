"""« Vérifier la complétude » and « Déposer le dossier » (référent), the receipt, and an
admin's « Demander une correction »."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.errors import Invalid, NotFound
from app.policy import Action
from app.services import dossiers, submission

# Messages shown after a redirect (POST → 303 → GET), keyed by the `ok` query parameter.
DONE = {
    "depose": "Le dossier est déposé. L'accusé de dépôt a été envoyé aux référent·es.",
    "correction": "La demande de correction est envoyée : le dossier est de nouveau un brouillon "
    "et les sections choisies sont rouvertes.",
}


def _ref(ctx: Ctx) -> dossiers.DossierRef:
    return dossiers.ref(ctx.db, ctx.request.path_params["dossier_id"])


def _completeness(
    ctx: Ctx, ref: dossiers.DossierRef, problems: dict[str, str] | None = None, status: int = 200
) -> Response:
    facts = ctx.facts(ref.dossier)
    policy.require(facts, Action.DOSSIER_COMPLETENESS)
    views = dossiers.section_views(ctx.db, ref.dossier)
    return ctx.render(
        "submission/completeness.html",
        {
            "ref": ref,
            "facts": facts,
            "views": views,
            "blockers": submission.blockers(views),
            "can_submit": policy.can(facts, Action.DOSSIER_SUBMIT),
            "can_receipt": policy.can(facts, Action.DOSSIER_RECEIPT),
            "depot": submission.last_depot(ctx.db, ref.dossier.id or 0),
            "problems": problems or {},
            "done": DONE.get(ctx.request.query_params.get("ok", "")),
        },
        status=status,
    )


@endpoint()
def completeness(ctx: Ctx) -> Response:
    return _completeness(ctx, _ref(ctx))


@endpoint()
def submit(ctx: Ctx) -> Response:
    ref = _ref(ctx)
    policy.require(ctx.facts(ref.dossier), Action.DOSSIER_SUBMIT)
    if ctx.field("confirmation") != "oui":
        return _completeness(
            ctx, ref, {"confirmation": "Cochez la case pour confirmer le dépôt."}, status=422
        )
    try:
        submission.submit(ctx.db, ctx.settings, ctx.user, ref.dossier)
    except Invalid as exc:
        ctx.db.rollback()
        return _completeness(ctx, ref, exc.problems, status=422)
    return RedirectResponse(f"/dossiers/{ref.dossier.id}/completude?ok=depose", status_code=303)


@endpoint()
def receipt(ctx: Ctx) -> Response:
    ref = _ref(ctx)
    policy.require(ctx.facts(ref.dossier), Action.DOSSIER_RECEIPT)
    depot = submission.last_depot(ctx.db, ref.dossier.id or 0)
    if depot is None:
        raise NotFound()
    return Response(
        depot.receipt,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="accuse-depot-dossier-{ref.dossier.id}.pdf"'
        },
    )


def _correction_page(
    ctx: Ctx, ref: dossiers.DossierRef, problems: dict[str, str] | None = None, status: int = 200
) -> Response:
    policy.require(ctx.facts(ref.dossier), Action.DOSSIER_CORRECTION)
    return ctx.render(
        "submission/correction.html",
        {
            "ref": ref,
            "sections": dossiers.section_list(ctx.db, ref.dossier),
            "chosen": {int(v) for v in ctx.fields("sections") if v.isdigit()},
            "message": ctx.field("message"),
            "problems": problems or {},
        },
        status=status,
    )


@endpoint()
def correction_form(ctx: Ctx) -> Response:
    return _correction_page(ctx, _ref(ctx))


@endpoint()
def correction(ctx: Ctx) -> Response:
    ref = _ref(ctx)
    policy.require(ctx.facts(ref.dossier), Action.DOSSIER_CORRECTION)
    chosen = [int(v) for v in ctx.fields("sections") if v.isdigit()]
    try:
        submission.request_correction(
            ctx.db, ctx.settings, ctx.user, ref.dossier, chosen, ctx.field("message")
        )
    except Invalid as exc:
        ctx.db.rollback()
        return _correction_page(ctx, ref, exc.problems, status=422)
    return RedirectResponse(f"/dossiers/{ref.dossier.id}/completude?ok=correction", status_code=303)


routes = [
    Route("/dossiers/{dossier_id:int}/completude", completeness, methods=["GET"]),
    Route("/dossiers/{dossier_id:int}/deposer", submit, methods=["POST"]),
    Route("/dossiers/{dossier_id:int}/accuse-depot.pdf", receipt, methods=["GET"]),
    Route("/dossiers/{dossier_id:int}/correction", correction_form, methods=["GET"]),
    Route("/dossiers/{dossier_id:int}/correction", correction, methods=["POST"]),
]
