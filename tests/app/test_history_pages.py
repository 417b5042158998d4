"""History pages and actions: timeline, past states, comparisons, authorship, restore, named
versions (manual, at each status change, at submission) and contributions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import pytest
from pycrdt import XmlFragment
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.db import Database
from app.models import (
    AuditEvent,
    DocUpdate,
    Dossier,
    DossierState,
    Section,
    SectionStatus,
    User,
    Version,
    VersionSection,
)
from app.services import documents, versions
from app.services.answers import MONTHS, read

from .factories import World, answer, user, world
from .web import csrf, login

STRATEGY = "gouvernance.strategie"  # rich text
BUDGET = "gouvernance.budget"  # indicateur, in €
FIRST = "Une stratégie votée en 2024."
SECOND = "Une stratégie révisée par le conseil."


@dataclass(frozen=True)
class Written:
    section: int
    first: int  # the log row after the producteur's first answer
    second: int  # the log row after the référent rewrote it


def write_twice(db: Database, w: World) -> Written:
    """The producteur answers, then the référent replaces the text and the budget."""
    with db.session() as session:
        section = session.get_one(Section, w.sections[0].id)
        answer(session, section, w.producteur, {STRATEGY: [{"type": "paragraphe", "texte": FIRST}]})
        first = last_row(session, section.doc_name)
        doc = documents.load(session, section.doc_name)
        before = doc.get_state()
        fragment = doc.get(STRATEGY, type=XmlFragment)
        with doc.transaction():
            while len(fragment.children):
                del fragment.children[0]
        documents.append_update(session, section.doc_name, doc.get_update(before), w.referent.id)
        answer(
            session,
            section,
            w.referent,
            {STRATEGY: [{"type": "paragraphe", "texte": SECOND}], BUDGET: 42000},
        )
        return Written(section.id, first, last_row(session, section.doc_name))  # type: ignore[arg-type]


def last_row(session: Session, doc_name: str) -> int:
    row = session.exec(
        select(DocUpdate.id)
        .where(DocUpdate.doc_name == doc_name)
        .order_by(col(DocUpdate.id).desc())
    ).first()
    assert row is not None
    return row


def log_rows(db: Database, doc_name: str) -> list[tuple[int, bytes, int | None, str]]:
    with db.session() as session:
        rows = session.exec(
            select(DocUpdate).where(DocUpdate.doc_name == doc_name).order_by(col(DocUpdate.id))
        )
        return [(r.id, r.data, r.user_id, r.connection_id) for r in rows]  # type: ignore[misc]


def events(db: Database, kind: str) -> list[AuditEvent]:
    with db.session() as session:
        query = select(AuditEvent).where(AuditEvent.kind == kind).order_by(col(AuditEvent.id))
        return list(session.exec(query))


def page(client: TestClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return unescape(response.text)


def put_in(db: Database, section_id: int, status: SectionStatus) -> None:
    with db.session() as session:
        session.get_one(Section, section_id).statut = status


# --- Reading ----------------------------------------------------------------------------------


def test_the_timeline_shows_who_when_how_much_and_where_to_go(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    login(client, w.referent.email)
    html = page(client, f"/sections/{written.section}/historique")
    assert "<h1>Gouvernance</h1>" in html
    sessions = html.split('<li class="timeline__item card">')[1:]
    assert len(sessions) == 2
    newest, oldest = sessions
    assert "Rita Référente" in newest and "Paul Producteur" in oldest
    assert any(month in newest for month in MONTHS)  # a French date
    assert "caractères" in newest and re.search(r"\+[\d\u202f]+ / −[\d\u202f]+ caractères", newest)
    assert "Décrivez votre stratégie." in newest  # the question it touched
    base = f"/sections/{written.section}"
    assert f'href="{base}/historique/{written.second}">Voir cette version' in newest
    assert f'href="{base}/historique/{written.first}">Voir cette version' in oldest
    assert f'href="{base}/comparer?de={written.first}&a=maintenant">Comparer avec maintenant' in (
        oldest
    )
    assert f'href="{base}/comparer?de={written.first}&a={written.second}">' in newest
    assert f'href="{base}/auteurs"' in html and "Qui a écrit quoi ?" in html
    # The compare form offers both sessions, named versions, now and the empty section.
    for value in ("maintenant", str(written.first), str(written.second), "0"):
        assert f'<option value="{value}"' in html
    assert '<label for="de">' in html and '<label for="a">' in html
    # The référent may name a version of the dossier from here.
    assert f'action="/dossiers/{w.dossier.id}/versions"' in html


def test_a_long_timeline_comes_in_pages_newest_first(
    client: TestClient, w: World, db: Database
) -> None:
    """A busy section has hundreds of sessions: 30 a page, the newest first, every one on one
    page and one only, and the compare form offers the sessions of the page."""
    with db.session() as session:
        section = session.get_one(Section, w.sections[0].id)
        for n in range(65):  # 65 sessions: alternate authors, each a few words
            author = w.producteur if n % 2 else w.referent
            answer(session, section, author, {BUDGET: 1000 + n})
        ids = [row.id for row in session.exec(select(DocUpdate).order_by(col(DocUpdate.id)))]
    login(client, w.referent.email)
    base = f"/sections/{w.sections[0].id}/historique"
    seen: list[int] = []
    for number, expected in ((1, 30), (2, 30), (3, 5)):
        html = page(client, base if number == 1 else f"{base}?page={number}")
        items = html.split('<li class="timeline__item card">')[1:]
        assert len(items) == expected
        shown = [int(m) for m in re.findall(rf'href="{base}/(\d+)">Voir cette version', html)]
        seen += shown
        assert f"Page {number} sur 3" in html
        assert ("Sessions plus anciennes" in html) == (number < 3)
        assert ("Sessions plus récentes" in html) == (number > 1)
        options = {int(v) for v in re.findall(r'<option value="(\d+)"', html)} - {0}
        assert set(shown) <= options  # the form offers this page's sessions
        assert not options & (set(ids) - set(shown))  # and no other page's
    assert seen == sorted(ids, reverse=True)[: len(seen)] and len(seen) == len(set(seen)) == 65
    # The oldest session's « what it changed » starts from the empty section.
    assert f'comparer?de=0&a={ids[0]}"' in page(client, f"{base}?page=3")
    for bad in ("0", "4", "deux", "-1", "1" * 20):
        assert client.get(f"{base}?page={bad}").status_code == 404


def test_the_section_page_links_to_its_history(client: TestClient, w: World) -> None:
    login(client, w.relecteur.email)
    html = page(client, f"/sections/{w.sections[0].id}")
    assert f'href="/sections/{w.sections[0].id}/historique">Historique de la section' in html
    client.cookies.clear()
    login(client, w.producteur.email)  # not one of this section's producteurs
    html = page(client, f"/sections/{w.sections[1].id}")
    assert "Historique de la section" not in html


def test_a_past_state_is_shown_read_only_like_the_section(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    login(client, w.referent.email)
    html = page(client, f"/sections/{written.section}/historique/{written.first}")
    assert "Vous consultez un état passé de la section" in html
    assert f'<div class="answer answer--rich"><p>{FIRST}</p></div>' in html
    assert SECOND not in html
    budget = html.split("Budget numérique annuel")[1].split("</section>")[0]
    assert "Pas encore de réponse." in budget
    assert "Restaurer cette version</button>" in html
    assert f'action="/sections/{written.section}/historique/{written.first}/restaurer"' in html
    # The empty section before any edit.
    assert FIRST not in page(client, f"/sections/{written.section}/historique/0")


def test_only_the_referent_sees_the_restore_button(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    for person in (w.producteur, w.relecteur, w.admin):
        client.cookies.clear()
        login(client, person.email)
        html = page(client, f"/sections/{written.section}/historique/{written.first}")
        assert FIRST in html
        assert "Restaurer cette version</button>" not in html
    put_in(db, written.section, SectionStatus.validee)
    client.cookies.clear()
    login(client, w.referent.email)
    html = page(client, f"/sections/{written.section}/historique/{written.first}")
    assert "Restaurer cette version</button>" not in html


def test_a_state_of_another_section_or_none_is_not_found(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    with db.session() as session:
        other = session.get_one(Section, w.sections[1].id)
        answer(session, other, w.referent, {"services.nom": "Portail"})
        foreign = last_row(session, other.doc_name)
    login(client, w.referent.email)
    assert client.get(f"/sections/{written.section}/historique/{foreign}").status_code == 404
    assert client.get(f"/sections/{written.section}/historique/999999").status_code == 404


def test_a_comparison_marks_additions_and_deletions_in_words(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    login(client, w.relecteur.email)
    html = page(client, f"/sections/{written.section}/comparer?de={written.first}&a=maintenant")
    assert "Comparer deux états" in html
    changed = html.split('<section class="card diff"')[1:]
    assert len(changed) == 2  # the strategy and the budget
    strategy = next(c for c in changed if "Décrivez votre stratégie." in c)
    assert '<ins><span class="visually-hidden">[ajouté : </span>' in strategy
    assert '<del><span class="visually-hidden">[supprimé : </span>' in strategy
    # The unchanged question is collapsed under its label.
    assert "<details" in html and "1 question sans changement" in html
    assert "Un·e élu·e est-il chargé·e du numérique ?" in html.split("<details")[1]
    # The chosen states stay selected in the form.
    assert f'<option value="{written.first}" selected>' in html
    assert '<option value="maintenant" selected>' in html


def test_comparing_the_same_state_says_nothing_changed(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    login(client, w.referent.email)
    path = f"/sections/{written.section}/comparer?de={written.second}&a=maintenant"
    html = page(client, path)
    assert "Aucune différence" in html
    assert "<ins>" not in html.split("diff-legend")[1].split("</p>", 1)[1]


@pytest.mark.parametrize("query", ["de=abc&a=maintenant", "de=999999&a=maintenant", "de=0&a="])
def test_a_bad_comparison_is_a_422_with_an_error_summary(
    client: TestClient, w: World, db: Database, query: str
) -> None:
    written = write_twice(db, w)
    login(client, w.referent.email)
    response = client.get(f"/sections/{written.section}/comparer?{query}")
    assert response.status_code == 422
    html = unescape(response.text)
    assert 'class="error-summary"' in html and 'href="#de"' in html
    assert "La comparaison n'a pas pu être faite" in html


def test_the_compare_form_alone(client: TestClient, w: World, db: Database) -> None:
    written = write_twice(db, w)
    login(client, w.referent.email)
    html = page(client, f"/sections/{written.section}/comparer")
    assert '<select id="de" name="de">' in html
    assert "diff__text" not in html


def test_who_wrote_what_names_the_authors(client: TestClient, w: World, db: Database) -> None:
    written = write_twice(db, w)
    login(client, w.producteur.email)
    html = page(client, f"/sections/{written.section}/auteurs")
    assert "<h1>Qui a écrit quoi ?</h1>" in html
    strategy = html.split("Décrivez votre stratégie.")[1].split("</section>")[0]
    assert 'class="passage__author">Rita Référente' in strategy
    assert SECOND in strategy


# --- Who may read ------------------------------------------------------------------------------

PAGES = ["historique", "historique/{first}", "comparer?de={first}&a=maintenant", "auteurs"]


@pytest.mark.parametrize("persona", ["referent", "producteur", "relecteur", "admin"])
def test_the_history_pages_open_for_the_team_and_staff(
    client: TestClient, w: World, db: Database, persona: str
) -> None:
    written = write_twice(db, w)
    login(client, getattr(w, persona).email)
    for path in PAGES:
        page(client, f"/sections/{written.section}/" + path.format(first=written.first))


@pytest.mark.parametrize("persona", ["other_producteur", "outsider", "jury"])
def test_the_history_pages_are_refused_to_others_and_audited(
    client: TestClient, w: World, db: Database, persona: str
) -> None:
    written = write_twice(db, w)
    section = written.section
    with db.session() as session:
        if persona == "jury":
            actor = user(session, "jury@test.fr", "Jules Jury")
            actor.is_jury = True
            session.get_one(Dossier, w.dossier.id).etat = DossierState.depose
        elif persona == "other_producteur":
            actor, section = session.get_one(User, w.producteur.id), w.sections[1].id  # type: ignore[assignment]
        else:
            actor = session.get_one(User, w.outsider.id)
        actor_id, email = actor.id, actor.email
    login(client, email)
    for path in PAGES:
        target = f"/sections/{section}/" + path.format(first=written.first)
        response = client.get(target)
        assert response.status_code == 403, target
        assert "Accès refusé" in response.text
        denied = events(db, "policy.denied")[-1]
        assert (denied.actor_id, denied.target) == (actor_id, "GET " + target.split("?")[0])


# --- Restoring ---------------------------------------------------------------------------------


def test_restoring_appends_a_forward_change_by_the_referent(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    doc_name = f"section-{written.section}"
    before = log_rows(db, doc_name)
    login(client, w.referent.email)
    response = client.post(
        f"/sections/{written.section}/historique/{written.first}/restaurer",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/sections/{written.section}/historique?ok=restauration"
    after = log_rows(db, doc_name)
    assert after[: len(before)] == before  # nothing rewritten
    [(_, _, author, connection)] = after[len(before) :]
    assert (author, connection) == (w.referent.id, "restauration")
    with db.session() as session:
        section = session.get_one(Section, written.section)
        questions = versions.questions_of(session, section)
        now = read(documents.load(session, doc_name), questions)
    assert now[STRATEGY].text == FIRST
    assert now[BUDGET].empty
    [event] = events(db, "section.restauration")
    assert event.actor_id == w.referent.id and event.target == f"section:{written.section}"
    assert event.data["upto"] == written.first
    html = page(client, response.headers["location"])
    assert "La version est restaurée" in html


def test_restoring_the_current_state_changes_nothing(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    before = log_rows(db, f"section-{written.section}")
    login(client, w.referent.email)
    response = client.post(
        f"/sections/{written.section}/historique/{written.second}/restaurer",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.headers["location"].endswith("?ok=identique")
    assert log_rows(db, f"section-{written.section}") == before


def test_restoring_needs_the_csrf_token(client: TestClient, w: World, db: Database) -> None:
    written = write_twice(db, w)
    before = log_rows(db, f"section-{written.section}")
    login(client, w.referent.email)
    response = client.post(
        f"/sections/{written.section}/historique/{written.first}/restaurer",
        data={"csrf_token": "0" * 64},
    )
    assert response.status_code == 403
    assert "Le formulaire a expiré" in unescape(response.text)
    assert log_rows(db, f"section-{written.section}") == before
    assert events(db, "section.restauration") == []


@pytest.mark.parametrize("who", ["producteur", "relecteur", "admin", "validated", "submitted"])
def test_restoring_is_refused_to_others_and_to_settled_sections(
    client: TestClient, w: World, db: Database, who: str
) -> None:
    written = write_twice(db, w)
    before = log_rows(db, f"section-{written.section}")
    actor = w.referent if who in ("validated", "submitted") else getattr(w, who)
    if who == "validated":
        put_in(db, written.section, SectionStatus.validee)
    if who == "submitted":
        with db.session() as session:
            session.get_one(Dossier, w.dossier.id).etat = DossierState.depose
    login(client, actor.email)
    response = client.post(
        f"/sections/{written.section}/historique/{written.first}/restaurer",
        data={"csrf_token": csrf(client)},
    )
    assert response.status_code == 403
    assert log_rows(db, f"section-{written.section}") == before
    assert events(db, "section.restauration") == []
    assert events(db, "policy.denied")[-1].actor_id == actor.id


# --- Named versions ----------------------------------------------------------------------------


def version_rows(db: Database) -> list[tuple[Version, dict[int, int]]]:
    with db.session() as session:
        out = []
        for version in session.exec(select(Version).order_by(col(Version.id))):
            points = session.exec(
                select(VersionSection).where(VersionSection.version_id == version.id)
            )
            out.append((version, {p.section_id: p.upto_update_id for p in points}))
        return out


def test_the_referent_saves_a_version_of_every_section(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    login(client, w.referent.email)
    overview = page(client, f"/dossiers/{w.dossier.id}")
    assert "Enregistrer une version</button>" in overview
    assert f'href="/dossiers/{w.dossier.id}/contributions"' in overview
    response = client.post(
        f"/dossiers/{w.dossier.id}/versions",
        data={"csrf_token": csrf(client), "label": "  Avant la relecture  "},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/dossiers/{w.dossier.id}?ok=version"
    assert "La version est enregistrée" in page(client, response.headers["location"])
    [(version, points)] = version_rows(db)
    assert (version.label, version.kind, version.created_by) == (
        "Avant la relecture",
        "manuelle",
        w.referent.id,
    )
    assert points == {written.section: written.second, w.sections[1].id: 0}
    [event] = events(db, "version.creation")
    assert event.data == {
        "label": "Avant la relecture",
        "version_kind": "manuelle",
        "sections": 2,
    }
    # The section's history lists it, with links to see it and compare it with now.
    html = page(client, f"/sections/{written.section}/historique")
    row = html.split("Versions nommées")[2].split("</tr>")[1]
    assert "Avant la relecture" in row and "Version enregistrée" in row
    assert f'href="/sections/{written.section}/historique/{written.second}"' in row
    assert "Version « Avant la relecture » du" in html  # in the compare form's lists


def test_saving_a_version_from_a_section_comes_back_to_its_history(
    client: TestClient, w: World, db: Database
) -> None:
    login(client, w.referent.email)
    section = w.sections[1].id
    response = client.post(
        f"/dossiers/{w.dossier.id}/versions",
        data={"csrf_token": csrf(client), "label": "Jalon", "section": str(section)},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/sections/{section}/historique?ok=version"


@pytest.mark.parametrize(("label", "said"), [("   ", "Donnez un nom"), ("x" * 121, "trop long")])
def test_a_version_needs_a_short_name(
    client: TestClient, w: World, db: Database, label: str, said: str
) -> None:
    login(client, w.referent.email)
    response = client.post(
        f"/dossiers/{w.dossier.id}/versions", data={"csrf_token": csrf(client), "label": label}
    )
    assert response.status_code == 422
    html = unescape(response.text)
    assert "La version n'a pas été enregistrée" in html and said in html
    assert 'href="#label"' in html and 'aria-invalid="true"' in html
    assert version_rows(db) == []


@pytest.mark.parametrize("persona", ["producteur", "relecteur", "admin"])
def test_only_the_referent_saves_versions(
    client: TestClient, w: World, db: Database, persona: str
) -> None:
    login(client, getattr(w, persona).email)
    assert "Enregistrer une version" not in page(client, f"/dossiers/{w.dossier.id}")
    response = client.post(
        f"/dossiers/{w.dossier.id}/versions", data={"csrf_token": csrf(client), "label": "Moi"}
    )
    assert response.status_code == 403
    assert version_rows(db) == []


def test_each_status_change_names_the_sections_state(
    client: TestClient, w: World, db: Database
) -> None:
    written = write_twice(db, w)
    put_in(db, written.section, SectionStatus.a_relire)
    login(client, w.referent.email)
    response = client.post(
        f"/sections/{written.section}/statut/valider",
        data={"csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [(version, points)] = version_rows(db)
    assert (version.label, version.kind, version.created_by) == (
        "Section Gouvernance : validée",
        "statut",
        w.referent.id,
    )
    assert points == {written.section: written.second}  # this section only
    assert "Changement de statut" in page(client, f"/sections/{written.section}/historique")


def test_the_submission_feature_names_a_version_of_the_whole_dossier(database: Database) -> None:
    """`create_version` on both databases, as the submission will call it."""
    with database.session() as session:
        w = world(session)
    written = write_twice(database, w)
    with database.session() as session:
        dossier = session.get_one(Dossier, w.dossier.id)
        referent = session.get_one(User, w.referent.id)
        version = versions.create_version(session, dossier, "Dossier déposé", "depot", referent)
        assert version.id is not None
    [(saved, points)] = version_rows(database)
    assert (saved.kind, saved.label, saved.created_by) == ("depot", "Dossier déposé", referent.id)
    assert points == {written.section: written.second, w.sections[1].id: 0}
    with database.session() as session:
        [named] = versions.of_section(session, session.get_one(Section, written.section))
    assert (named.label, named.kind_label, named.created_by) == (
        "Dossier déposé",
        "Dépôt",
        "Rita Référente",
    )


# --- Contributions -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["referent", "admin"])
def test_contributions_per_person(client: TestClient, w: World, db: Database, persona: str) -> None:
    written = write_twice(db, w)
    login(client, getattr(w, persona).email)
    html = page(client, f"/dossiers/{w.dossier.id}/contributions")
    assert "<h1>Contributions au dossier de Testville</h1>" in html
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    by_name = {re.search(r'<th scope="row">([^<]+)</th>', r).group(1): r for r in rows}  # type: ignore[union-attr]
    assert set(by_name) == {"Paul Producteur", "Rita Référente"}
    assert f'href="/sections/{written.section}/historique">Gouvernance' in by_name["Rita Référente"]
    assert any(month in by_name["Paul Producteur"] for month in MONTHS)
    cells = {name: re.findall(r"<td>([^<]*)</td>", row) for name, row in by_name.items()}
    # Modifications, characters added, characters removed: Paul wrote the first text (28
    # characters); Rita removed it (28), wrote the second one (37) and set the budget, counted
    # as it reads: « 42 000 € » (8).
    assert cells["Paul Producteur"][:3] == ["1", "28", "0"]
    assert cells["Rita Référente"][:3] == ["2", "45", "28"]


@pytest.mark.parametrize("persona", ["producteur", "relecteur", "outsider"])
def test_contributions_are_refused_to_others(
    client: TestClient, w: World, db: Database, persona: str
) -> None:
    actor = getattr(w, persona)
    login(client, actor.email)
    path = f"/dossiers/{w.dossier.id}/contributions"
    assert client.get(path).status_code == 403
    assert (events(db, "policy.denied")[-1].actor_id, events(db, "policy.denied")[-1].target) == (
        actor.id,
        f"GET {path}",
    )
    if persona != "outsider":
        assert f'href="{path}"' not in page(client, f"/dossiers/{w.dossier.id}")
