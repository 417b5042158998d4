"""A section's history: its timeline, a past state, a comparison, « qui a écrit quoi ? »,
restoring a past state; a dossier's named versions and its contributions per person.

A past state is named by the id of the section's last log row it includes (`upto`): 0 is the
section before any edit, and « maintenant » its current state. Reading needs
`Action.HISTORY_READ`; restoring is a new forward change applied through the live room, so
editors who have the section open see the restored text at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from anyio import from_thread
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import policy
from app.context import Ctx, endpoint
from app.errors import Invalid, NotFound
from app.models import Question, Section
from app.policy import Action
from app.services import answers, dossiers, history, versions
from app.services.dossiers import DossierRef
from app.templating import PARIS, french_date
from collab.manager import Manager

NOW = "maintenant"
PAGE = 30  # editing sessions per page of the timeline (a busy section has hundreds)
UNKNOWN = "Personne inconnue"  # a row whose account is gone, or written by nobody (demo data)
# Messages shown after a redirect (POST → 303 → GET), keyed by the `ok` query parameter.
DONE = {
    "restauration": "La version est restaurée : c'est maintenant le contenu de la section. "
    "Le contenu remplacé reste dans l'historique.",
    "restauration-differee": "La version est restaurée pour les personnes connectées ; "
    "son enregistrement a pris du retard et se fera automatiquement.",
    "identique": "Cette version est déjà le contenu actuel de la section : rien n'a changé.",
    "version": "La version est enregistrée : elle apparaît dans l'historique de chaque section.",
}


@dataclass(frozen=True)
class Point:
    """A state of the section one may look at or compare: its `upto` value and its name."""

    value: str  # an update id, or NOW
    label: str


def _section(
    ctx: Ctx, action: Action = Action.HISTORY_READ
) -> tuple[Section, DossierRef, policy.Facts]:
    section, ref = dossiers.section_of(ctx.db, ctx.request.path_params["section_id"])
    facts = ctx.facts(ref.dossier, section)
    policy.require(facts, action)
    return section, ref, facts


def _upto(ctx: Ctx, section: Section) -> int:
    upto: int = ctx.request.path_params["upto_id"]
    versions.check_point(ctx.db, section, upto)
    return upto


def when(start: datetime, end: datetime) -> str:
    """« 3 décembre 2026 de 14:05 à 14:32 », or one time when start and end are the same
    minute (Paris time)."""
    first, last = start.astimezone(PARIS), end.astimezone(PARIS)
    if first.date() != last.date():
        return f"du {french_date(start, True)} au {french_date(end, True)}"
    if (first.hour, first.minute) == (last.hour, last.minute):
        return french_date(start, True)
    return f"{french_date(start)} de {first:%H:%M} à {last:%H:%M}"


def _points(
    sessions: list[history.EditingSession], named: list[versions.NamedVersion]
) -> list[Point]:
    points = [Point(NOW, "Contenu actuel")]
    points += [
        Point(str(s.last_id), f"Après les modifications de {_name(s)}, {when(s.start, s.end)}")
        for s in sessions
    ]
    points += [
        Point(str(v.upto_id), f"Version « {v.label} » du {french_date(v.created_at, True)}")
        for v in named
    ]
    points.append(Point("0", "Section vide, avant toute modification"))
    return points


def _name(s: history.EditingSession) -> str:
    return s.user_name or UNKNOWN


def _titles(questions: list[Question]) -> dict[str, str]:
    return {q.cle: q.libelle for q in questions}


def _page(ctx: Ctx, sessions: int) -> tuple[int, int]:
    """The `page` query parameter (1: the newest sessions) and the number of pages; an absent
    page is not found."""
    value = ctx.request.query_params.get("page", "1")
    pages = max(1, -(-sessions // PAGE))
    if not value.isdigit() or not 1 <= int(value) <= pages:
        raise NotFound()
    return int(value), pages


@endpoint()
def timeline(ctx: Ctx) -> Response:
    section, ref, facts = _section(ctx)
    view = dossiers.section_view(ctx.db, section, with_answers=False)
    every = history.timeline(ctx.db, section.doc_name)
    page, pages = _page(ctx, len(every))
    start = (page - 1) * PAGE
    sessions = every[start : start + PAGE]
    named = versions.of_section(ctx.db, section)
    # Each session's « what changed »: from the state the previous session left (newest first).
    previous = [s.last_id for s in every[start + 1 : start + PAGE + 1]]
    previous += [0] * (len(sessions) - len(previous))
    return ctx.render(
        "history/timeline.html",
        {
            "ref": ref,
            "view": view,
            "sessions": list(zip(sessions, previous, strict=True)),
            "page": page,
            "pages": pages,
            "first": start + 1,
            "total": len(every),
            "named": named,
            # The form offers this page's sessions; the comparison page offers them all.
            "points": _points(sessions, named),
            "titles": _titles(view.questions),
            "when": when,
            "can_version": policy.can(facts, Action.VERSION_CREATE),
            "max_label": versions.MAX_LABEL,
            "done": DONE.get(ctx.request.query_params.get("ok", "")),
            "problems": {},
        },
    )


@endpoint()
def past(ctx: Ctx) -> Response:
    section, ref, facts = _section(ctx)
    upto = _upto(ctx, section)
    view = dossiers.section_view(ctx.db, section, with_answers=False)
    doc = history.doc_at(ctx.db, section.doc_name, upto)
    points = _points(
        history.timeline(ctx.db, section.doc_name), versions.of_section(ctx.db, section)
    )
    label = next((p.label for p in points if p.value == str(upto)), "")
    return ctx.render(
        "history/past.html",
        {
            "ref": ref,
            "view": view,
            "upto": upto,
            "label": label or f"État après la modification n° {upto}",
            "answers": answers.read(doc, view.questions),
            "can_restore": policy.can(facts, Action.SECTION_RESTORE),
        },
    )


@endpoint()
def restore(ctx: Ctx) -> Response:
    section, _, _ = _section(ctx, Action.SECTION_RESTORE)
    upto = _upto(ctx, section)
    manager: Manager = ctx.request.app.state.collab
    live = from_thread.run_sync(manager.live_state, section.doc_name)
    update = versions.restore_update(ctx.db, section, upto, live)
    changed, saved = update is not None, True
    if update is not None:
        # End this request's transaction before collab writes the log: with SQLite it may hold
        # the write lock (a session's last-seen time), which the log's own commit would wait for.
        ctx.db.commit()
        actor_id: int = ctx.user.id  # type: ignore[assignment]
        saved = from_thread.run(
            manager.apply_server_update, section.doc_name, update, actor_id, "restauration"
        )
    versions.record_restore(ctx.db, ctx.user, section, upto, changed=changed, saved=saved)
    ok = "restauration" if saved else "restauration-differee"
    return RedirectResponse(
        f"/sections/{section.id}/historique?ok={ok if changed else 'identique'}", status_code=303
    )


def _point(ctx: Ctx, section: Section, name: str) -> int | None:
    """A `de` / `a` parameter: an update id of this section, 0, or NOW (None)."""
    value = ctx.request.query_params.get(name, "").strip()
    if value == NOW:
        return None
    if not value.isdigit() or len(value) > 12:
        raise Invalid("Choisissez deux états à comparer.", {name: "Choisissez un état."})
    upto = int(value)
    versions.check_point(ctx.db, section, upto)
    return upto


@endpoint()
def compare(ctx: Ctx) -> Response:
    section, ref, _ = _section(ctx)
    view = dossiers.section_view(ctx.db, section, with_answers=False)
    sessions = history.timeline(ctx.db, section.doc_name)
    points = _points(sessions, versions.of_section(ctx.db, section))
    context = {"ref": ref, "view": view, "points": points, "de": "", "a": NOW, "problems": {}}
    params = ctx.request.query_params
    if "de" not in params and "a" not in params:
        # The form alone: from the state before the last session to now.
        context["de"] = str(sessions[1].last_id if len(sessions) > 1 else 0)
        return ctx.render("history/compare.html", context)
    try:
        old, new = _point(ctx, section, "de"), _point(ctx, section, "a")
    except (Invalid, NotFound):
        problems = {"de": "Choisissez l'état de départ et l'état d'arrivée dans les listes."}
        context.update(de=params.get("de", ""), a=params.get("a", ""), problems=problems)
        return ctx.render("history/compare.html", context, status=422)
    labels = {p.value: p.label for p in points}
    de, a = params["de"], params["a"]
    diffs = history.diff(
        view.questions,
        history.plain_answers(history.doc_at(ctx.db, section.doc_name, old), view.questions),
        history.plain_answers(history.doc_at(ctx.db, section.doc_name, new), view.questions),
    )
    context.update(
        de=de,
        a=a,
        de_label=labels.get(de, f"État après la modification n° {de}"),
        a_label=labels.get(a, f"État après la modification n° {a}"),
        changed=[d for d in diffs if d.changed],
        unchanged=[d for d in diffs if not d.changed],
    )
    return ctx.render("history/compare.html", context)


@endpoint()
def authors(ctx: Ctx) -> Response:
    section, ref, _ = _section(ctx)
    view = dossiers.section_view(ctx.db, section, with_answers=False)
    return ctx.render(
        "history/authors.html",
        {
            "ref": ref,
            "view": view,
            "questions": history.authorship(ctx.db, section.doc_name, view.questions),
        },
    )


def _dossier(ctx: Ctx, action: Action) -> DossierRef:
    value = ctx.request.path_params["dossier_id"]
    ref = dossiers.ref(ctx.db, value)
    policy.require(ctx.facts(ref.dossier), action)
    return ref


@endpoint()
def version_page(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.VERSION_CREATE)
    context = {"ref": ref, "problems": {}, "label": "", "max_label": versions.MAX_LABEL}
    return ctx.render("history/version_new.html", context)


@endpoint()
def new_version(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.VERSION_CREATE)
    # Whatever the editors typed up to now belongs in the version: commit collab's pending
    # edits first, once this request's transaction no longer holds SQLite's write lock (see
    # `restore`).
    ctx.db.commit()
    from_thread.run(ctx.request.app.state.collab.flush)
    try:
        versions.create_version(ctx.db, ref.dossier, ctx.field("label"), "manuelle", ctx.user)
    except Invalid as exc:
        ctx.db.rollback()
        return ctx.render(
            "history/version_new.html",
            {
                "ref": ref,
                "problems": exc.problems,
                "label": ctx.field("label"),
                "max_label": versions.MAX_LABEL,
            },
            status=422,
        )
    back = ctx.field("section")
    section = ctx.db.get(Section, int(back)) if back.isdigit() and len(back) < 12 else None
    if section is not None and section.dossier_id == ref.dossier.id:
        return RedirectResponse(f"/sections/{section.id}/historique?ok=version", status_code=303)
    return RedirectResponse(f"/dossiers/{ref.dossier.id}?ok=version", status_code=303)


@endpoint()
def contributions(ctx: Ctx) -> Response:
    ref = _dossier(ctx, Action.CONTRIBUTIONS_READ)
    titles = {s.id: t.titre for s, t in dossiers.section_list(ctx.db, ref.dossier)}
    return ctx.render(
        "history/contributions.html",
        {
            "ref": ref,
            "people": history.contributions(ctx.db, ref.dossier.id),  # type: ignore[arg-type]
            "titles": titles,
        },
    )


routes = [
    Route("/sections/{section_id:int}/historique", timeline, methods=["GET"], name="history"),
    Route(
        "/sections/{section_id:int}/historique/{upto_id:int}",
        past,
        methods=["GET"],
        name="history_past",
    ),
    Route(
        "/sections/{section_id:int}/historique/{upto_id:int}/restaurer",
        restore,
        methods=["POST"],
        name="history_restore",
    ),
    Route("/sections/{section_id:int}/comparer", compare, methods=["GET"], name="history_compare"),
    Route("/sections/{section_id:int}/auteurs", authors, methods=["GET"], name="history_authors"),
    Route("/dossiers/{dossier_id:int}/versions", version_page, methods=["GET"], name="versions"),
    Route("/dossiers/{dossier_id:int}/versions", new_version, methods=["POST"], name="version_new"),
    Route(
        "/dossiers/{dossier_id:int}/contributions",
        contributions,
        methods=["GET"],
        name="contributions",
    ),
]
