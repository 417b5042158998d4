"""Following an invitation link: see it, accept it, or create one's account to accept it."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import ratelimit
from app.context import Ctx, endpoint
from app.errors import Invalid
from app.models import Invitation, InvitationKind, Role, User
from app.routes.auth import start_session
from app.services import accounts, dossiers, invitations, members


def _load(ctx: Ctx) -> Invitation:
    ctx.limiter.check(ratelimit.INVITATION_BY_IP, ctx.client_ip)
    invitation = invitations.by_token(ctx.db, ctx.request.path_params["token"])
    invitations.check_usable(invitation)
    return invitation


def _landing(invitation: Invitation) -> str:
    if invitation.role == Role.producteur and invitation.kind == InvitationKind.membre:
        return f"/dossiers/{invitation.dossier_id}?filtre=mes-sections"
    return f"/dossiers/{invitation.dossier_id}"


def _page(
    ctx: Ctx, invitation: Invitation, problems: dict[str, str] | None = None, status: int = 200
) -> Response:
    ref = dossiers.ref(ctx.db, invitation.dossier_id)
    inviter = ctx.db.get(User, invitation.invited_by_id)
    return ctx.render(
        "invitations/show.html",
        {
            "invitation": invitation,
            "ref": ref,
            "inviter": inviter,
            "referents": members.referents(ctx.db, ref.dossier),
            "sections": members.sections_of(ctx.db, ref.dossier, invitation.section_ids),
            "has_account": accounts.by_email(ctx.db, invitation.email) is not None,
            "token": ctx.request.path_params["token"],
            "problems": problems or {},
            "name": ctx.field("name"),
            "oidc": ctx.settings.oidc_enabled,
        },
        status=status,
    )


@endpoint(login=False)
def show(ctx: Ctx) -> Response:
    return _page(ctx, _load(ctx))


@endpoint()
def accept(ctx: Ctx) -> Response:
    invitation = _load(ctx)
    invitations.accept(ctx.db, ctx.request.path_params["token"], ctx.user)
    return RedirectResponse(_landing(invitation), status_code=303)


@endpoint(login=False)
def create_account(ctx: Ctx) -> Response:
    invitation = _load(ctx)
    if ctx.auth is not None:
        raise Invalid("Vous êtes déjà connecté·e : acceptez l'invitation avec votre compte.")
    try:
        _, user = invitations.accept_with_new_account(
            ctx.db,
            ctx.request.path_params["token"],
            ctx.field("name"),
            ctx.field("password"),
            ctx.field("confirmation"),
        )
    except Invalid as exc:
        ctx.db.rollback()
        return _page(ctx, invitation, exc.problems, status=422)
    return start_session(ctx, user, _landing(invitation), method="invitation")


routes = [
    Route("/invitations/{token}", show, methods=["GET"], name="invitation"),
    Route("/invitations/{token}", accept, methods=["POST"], name="invitation_accept"),
    Route(
        "/invitations/{token}/compte", create_account, methods=["POST"], name="invitation_account"
    ),
]
