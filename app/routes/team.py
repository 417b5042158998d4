"""The team of a dossier: members, invitations, roles, and who owns which section."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.errors import Invalid, NotFound
from app.models import Invitation, Role, User
from app.models._base import utcnow
from app.policy import Action
from app.services import dossiers, invitations, members

# Messages shown after a redirect (POST → 303 → GET), keyed by the `ok` query parameter.
DONE = {
    "invitations": "Les invitations ont été envoyées.",
    "revoquee": "L'invitation a été révoquée : son lien ne fonctionne plus.",
    "renvoyee": "L'invitation a été renvoyée avec un nouveau lien.",
    "role": "Le rôle a été modifié et la personne prévenue.",
    "retire": "La personne a été retirée du dossier ; ses contributions restent à son nom.",
    "transmis": "La proposition de devenir référent·e a été envoyée.",
    "attributions": "Les attributions ont été enregistrées et les personnes concernées prévenues.",
}


def _dossier(ctx: Ctx, action: Action) -> dossiers.DossierRef:
    ref = dossiers.ref(ctx.db, ctx.request.path_params["dossier_id"])
    policy.require(ctx.facts(ref.dossier), action)
    return ref


def _page(
    ctx: Ctx, ref: dossiers.DossierRef, problems: dict[str, str] | None = None, status: int = 200
) -> Response:
    facts = ctx.facts(ref.dossier)
    manage = policy.can(facts, Action.MEMBERS_MANAGE)
    sections = dossiers.section_list(ctx.db, ref.dossier)
    titles = {s.id: t.titre for s, t in sections}
    owned: dict[int, list[str]] = {}
    for section, _ in sections:
        for person in members.owners(ctx.db, section):
            owned.setdefault(person.id, []).append(titles[section.id])  # type: ignore[arg-type]
    return ctx.render(
        "team/index.html",
        {
            "ref": ref,
            "facts": facts,
            "manage": manage,
            "can_transfer": policy.can(facts, Action.REFERENT_TRANSFER),
            "can_assign": policy.can(facts, Action.SECTION_ASSIGN),
            "members": dossiers.members(ctx.db, ref.dossier.id),  # type: ignore[arg-type]
            "owned": owned,
            "invitations": invitations.for_dossier(ctx.db, ref.dossier) if manage else [],
            "titles": titles,
            "sections": sections,
            "now": utcnow(),
            "problems": problems or {},
            "form": ctx.form,
            "done": DONE.get(ctx.request.query_params.get("ok", "")),
            "roles": [Role.producteur, Role.relecteur, Role.referent],
        },
        status=status,
    )


def _back(ref: dossiers.DossierRef, done: str, path: str = "equipe") -> Response:
    return RedirectResponse(f"/dossiers/{ref.dossier.id}/{path}?ok={done}", status_code=303)


@endpoint()
def team(ctx: Ctx) -> Response:
    return _page(ctx, _dossier(ctx, Action.MEMBERS_READ))


def _int_list(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise Invalid(
            "Sélection de sections invalide.", {"sections": "Sélection invalide."}
        ) from None


@endpoint()
def invite(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.MEMBERS_MANAGE)
    try:
        section_ids = _int_list(ctx.fields("sections"))
        invitations.invite(
            ctx.db,
            ctx.settings,
            ctx.user,
            ref.dossier,
            ctx.field("emails"),
            ctx.field("role"),
            section_ids,
            ctx.field("message"),
        )
    except Invalid as exc:
        ctx.db.rollback()
        return _page(ctx, ref, exc.problems, status=422)
    return _back(ref, "invitations")


def _invitation(ctx: Ctx, ref: dossiers.DossierRef) -> Invitation:
    return invitations.get(ctx.db, ref.dossier, ctx.request.path_params["invitation_id"])


@endpoint()
def revoke(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.MEMBERS_MANAGE)
    invitations.revoke(ctx.db, ctx.user, ref.dossier, _invitation(ctx, ref))
    return _back(ref, "revoquee")


@endpoint()
def resend(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.MEMBERS_MANAGE)
    invitations.resend(ctx.db, ctx.settings, ctx.user, ref.dossier, _invitation(ctx, ref))
    return _back(ref, "renvoyee")


def _member(ctx: Ctx, ref: dossiers.DossierRef) -> User:
    person = ctx.db.get(User, ctx.request.path_params["user_id"])
    if person is None or members.role_of(ctx.db, ref.dossier, person) is None:
        raise NotFound()
    return person


@endpoint()
def change_role(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.MEMBERS_MANAGE)
    role = ctx.field("role")
    if role not in (Role.producteur, Role.relecteur):
        raise Invalid("Choisissez producteur·rice ou relecteur·rice.")
    members.change_role(ctx.db, ctx.settings, ctx.user, ref.dossier, _member(ctx, ref), Role(role))
    return _back(ref, "role")


@endpoint()
def remove(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.MEMBERS_MANAGE)
    members.remove(ctx.db, ctx.user, ref.dossier, _member(ctx, ref))
    return _back(ref, "retire")


@endpoint()
def transfer(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.REFERENT_TRANSFER)
    invitations.offer_referent_role(ctx.db, ctx.settings, ctx.user, ref.dossier, _member(ctx, ref))
    return _back(ref, "transmis")


@endpoint()
def assignments(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.SECTION_ASSIGN)
    sections = dossiers.section_list(ctx.db, ref.dossier)
    return ctx.render(
        "team/assignments.html",
        {
            "ref": ref,
            "sections": sections,
            "producteurs": members.producteurs(ctx.db, ref.dossier),
            "owners": {s.id: {u.id for u in members.owners(ctx.db, s)} for s, _ in sections},
            "done": DONE.get(ctx.request.query_params.get("ok", "")),
        },
    )


@endpoint()
def save_assignments(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.SECTION_ASSIGN)
    wanted: dict[int, set[int]] = {
        section.id: set()
        for section, _ in dossiers.section_list(ctx.db, ref.dossier)
        if section.id is not None
    }
    for value in ctx.fields("owner"):
        section_id, _, user_id = value.partition(":")
        try:
            wanted.setdefault(int(section_id), set()).add(int(user_id))
        except ValueError:
            raise Invalid("Sélection invalide.") from None
    members.set_owners(ctx.db, ctx.settings, ctx.user, ref.dossier, wanted)
    return _back(ref, "attributions", "attributions")


routes = [
    Route("/dossiers/{dossier_id:int}/equipe", team, methods=["GET"], name="team"),
    Route("/dossiers/{dossier_id:int}/invitations", invite, methods=["POST"], name="invite"),
    Route(
        "/dossiers/{dossier_id:int}/invitations/{invitation_id:int}/revoquer",
        revoke,
        methods=["POST"],
        name="invitation_revoke",
    ),
    Route(
        "/dossiers/{dossier_id:int}/invitations/{invitation_id:int}/renvoyer",
        resend,
        methods=["POST"],
        name="invitation_resend",
    ),
    Route(
        "/dossiers/{dossier_id:int}/membres/{user_id:int}/role",
        change_role,
        methods=["POST"],
        name="member_role",
    ),
    Route(
        "/dossiers/{dossier_id:int}/membres/{user_id:int}/retirer",
        remove,
        methods=["POST"],
        name="member_remove",
    ),
    Route(
        "/dossiers/{dossier_id:int}/membres/{user_id:int}/transmettre",
        transfer,
        methods=["POST"],
        name="member_transfer",
    ),
    Route(
        "/dossiers/{dossier_id:int}/attributions", assignments, methods=["GET"], name="assignments"
    ),
    Route(
        "/dossiers/{dossier_id:int}/attributions",
        save_assignments,
        methods=["POST"],
        name="assignments_save",
    ),
]
