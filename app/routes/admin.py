"""Administration (association staff): accounts, the outbox of mails, the audit journal."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlmodel import col, select
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.errors import Invalid, NotFound
from app.models import OutboxMail, User
from app.policy import Action
from app.services import accounts, audit
from app.templating import PARIS

JOURNAL_PER_PAGE = 100
JOURNAL_FILTERS = ("dossier", "personne", "type", "du", "au")
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


@endpoint()
def journal(ctx: Ctx) -> Response:
    _require(ctx, Action.AUDIT_READ)
    params = ctx.request.query_params
    found, problems = None, {}
    try:
        wanted = _journal_filter(params)
    except Invalid as exc:
        problems = exc.problems
    else:
        found = audit.journal(ctx.db, wanted, _page_number(params), JOURNAL_PER_PAGE)
    return ctx.render(
        "admin/journal.html",
        {
            "found": found,
            "problems": problems,
            "form": params,
            "query": urlencode({k: params[k] for k in JOURNAL_FILTERS if params.get(k)}),
            "report": audit.verify(ctx.db),
            "people": accounts.all_users(ctx.db),
            "kinds": audit.kinds(ctx.db),
        },
        status=422 if problems else 200,
    )


@endpoint()
def journal_csv(ctx: Ctx) -> Response:
    _require(ctx, Action.AUDIT_READ)
    content = audit.journal_csv(ctx.db, _journal_filter(ctx.request.query_params), ctx.user)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="journal-audit.csv"'},
    )


def _journal_filter(params: Mapping[str, str]) -> audit.JournalFilter:
    """The journal's filters; `Invalid` names each one that cannot be read."""
    problems = {}
    dossier, person = _identifier(params, "dossier"), _identifier(params, "personne")
    if params.get("dossier", "").strip() and dossier is None:
        problems["dossier"] = "Le numéro de dossier est un nombre entier, par exemple 12."
    if params.get("personne", "").strip() and person is None:
        problems["personne"] = "Choisissez une personne dans la liste."
    since, until = _day(params.get("du", "")), _day(params.get("au", ""))
    for name, day in (("du", since), ("au", until)):
        if params.get(name, "").strip() and day is None:
            problems[name] = "Saisissez une date valide, par exemple 31/03/2026."
    if since and until and until < since:
        problems["au"] = "La date de fin précède la date de début."
    kind = params.get("type", "").strip()
    if len(kind) > 100:
        problems["type"] = "Le type d'événement compte au plus 100 caractères."
    if problems:
        raise Invalid("Les filtres n'ont pas pu être appliqués.", problems)
    return audit.JournalFilter(
        dossier_id=dossier,
        actor_id=person,
        kind=kind,
        # Days are French days, as the pages show them.
        since=datetime.combine(since, time(), PARIS) if since else None,
        before=datetime.combine(until + timedelta(days=1), time(), PARIS) if until else None,
    )


def _identifier(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name, "").strip()
    # Bounded: a longer number would overflow PostgreSQL's integer columns.
    return int(value) if value.isdecimal() and len(value) <= 9 else None


def _day(value: str) -> date | None:
    """A date typed as 2026-03-31 (what date fields send) or 31/03/2026 (by hand)."""
    value = value.strip()
    for parse in (date.fromisoformat, lambda v: datetime.strptime(v, "%d/%m/%Y").date()):
        try:
            day = parse(value)
        except ValueError:
            continue
        # Bounded, so that the day after and the time zone conversion stay within range.
        return day if 1900 <= day.year < 9999 else None
    return None


def _page_number(params: Mapping[str, str]) -> int:
    value = params.get("page", "")
    return int(value) if value.isdecimal() and len(value) <= 6 else 1


routes = [
    Route("/admin/comptes", users, methods=["GET"], name="admin_users"),
    Route(
        "/admin/comptes/{user_id:int}/actif", set_active, methods=["POST"], name="admin_user_active"
    ),
    Route("/admin/courriels", outbox, methods=["GET"], name="admin_outbox"),
    Route("/admin/courriels/{mail_id:int}", mail, methods=["GET"], name="admin_mail"),
    Route("/admin/journal", journal, methods=["GET"], name="admin_journal"),
    Route("/admin/journal.csv", journal_csv, methods=["GET"], name="admin_journal_csv"),
]
