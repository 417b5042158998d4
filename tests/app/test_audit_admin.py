"""The audit journal of the administration: listing, filters, CSV export, chain verification.

Everything runs on SQLite and PostgreSQL; tampering is done the way an intruder with database
access would do it, by SQL statements that bypass the application.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.db import Database
from app.main import create_app
from app.models import AuditEvent
from app.services import audit
from app.services.audit import Break, event_hash

from ..conftest import make_settings
from .factories import World, user, world
from .web import login

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_ROW_ID = re.compile(r'<th scope="row">(\d+)')


@pytest.fixture
def site(database: Database) -> Iterator[TestClient]:
    """The app on the test's database (SQLite or PostgreSQL)."""
    app = create_app(make_settings(database.url))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.fixture
def people(database: Database) -> World:
    with database.session() as session:
        return world(session)


def append(session: Session, kind: str, at: datetime, **fields: Any) -> int:
    """An event chained as `audit.record` chains it, but dated `at` (record dates it now)."""
    previous = session.exec(
        select(AuditEvent.hash).order_by(col(AuditEvent.id).desc()).limit(1)
    ).first()
    data = fields.pop("data", {})
    event = AuditEvent(created_at=at, kind=kind, data=data, prev_hash=previous or "", **fields)
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    assert event.id is not None
    return event.id


def event_ids(database: Database, *where: Any) -> list[int]:
    """Expected listings, newest first, read straight from the table."""
    with database.engine.connect() as conn:
        query = sa.select(EVENTS.c.id).where(*where).order_by(EVENTS.c.id.desc())
        return list(conn.execute(query).scalars())


def listed(client: TestClient, query: str = "") -> list[int]:
    response = client.get(f"/admin/journal{query}")
    assert response.status_code == 200, response.text
    return [int(i) for i in _ROW_ID.findall(response.text)]


def tamper(database: Database, event_id: int, **values: Any) -> None:
    with database.engine.begin() as conn:
        conn.execute(sa.update(EVENTS).where(EVENTS.c.id == event_id).values(**values))


def delete(database: Database, event_id: int) -> None:
    with database.engine.begin() as conn:
        conn.execute(sa.delete(EVENTS).where(EVENTS.c.id == event_id))


def report(database: Database) -> audit.ChainReport:
    with database.session() as session:
        return audit.verify(session)


def middle_event(database: Database) -> int:
    ids = sorted(event_ids(database))
    assert len(ids) >= 5, ids
    return ids[len(ids) // 2]


@pytest.fixture
def dated(database: Database, people: World) -> dict[str, int]:
    """Three events in March 2020, in French time: 2 March 00:30, 5 March 11:00, 10 March 9:00."""
    with database.session() as session:
        return {
            "add": append(
                session,
                "membre.add",
                datetime(2020, 3, 1, 23, 30, tzinfo=UTC),
                actor_id=people.referent.id,
                dossier_id=people.dossier.id,
                target=f"user:{people.producteur.id}",
                data={"role": "producteur"},
            ),
            "role": append(
                session,
                "membre.role",
                datetime(2020, 3, 5, 10, 0, tzinfo=UTC),
                actor_id=people.referent.id,
                dossier_id=people.dossier.id,
                target=f"user:{people.relecteur.id}",
                data={"before": "relecteur", "after": "producteur"},
            ),
            "login": append(
                session,
                "auth.login",
                datetime(2020, 3, 10, 8, 0, tzinfo=UTC),
                actor_id=people.admin.id,
                target=f"user:{people.admin.id}",
                data={"method": "password"},
            ),
        }


def test_journal_lists_events_newest_first_with_their_details(
    site: TestClient, database: Database, people: World, dated: dict[str, int]
) -> None:
    login(site, people.admin.email)
    page = site.get("/admin/journal")
    assert page.status_code == 200
    assert "<title>Journal d'audit — Arobase</title>" in page.text
    assert '<a href="/admin/journal" aria-current="page">Journal d\'audit</a>' in page.text
    assert "<caption" in page.text and '<th scope="col">Personne</th>' in page.text
    assert '<label for="personne">Personne</label>' in page.text
    assert '<label for="du">Du</label>' in page.text and '<label for="au">Au</label>' in page.text
    assert [int(i) for i in _ROW_ID.findall(page.text)] == event_ids(database)
    row = page.text.split(f'<th scope="row">{dated["role"]}', 1)[1].split("</tr>", 1)[0]
    assert '<time datetime="2020-03-05T10:00:00+00:00">5 mars 2020 à 11:00</time>' in row
    assert "<code>membre.role</code>" in row and "Rita Référente" in row
    assert f'<a href="/dossiers/{people.dossier.id}">Testville (n° {people.dossier.id})</a>' in row
    assert f"user:{people.relecteur.id}" in row
    assert "after : producteur ; before : relecteur" in row
    assert "Chaîne intacte" in page.text
    assert site.get("/dossiers").text.count("/admin/journal") == 1  # in the admin menu


def test_journal_filters(
    site: TestClient, database: Database, people: World, dated: dict[str, int]
) -> None:
    login(site, people.admin.email)
    c = EVENTS.c
    dossier = people.dossier.id
    assert listed(site, f"?dossier={dossier}") == event_ids(database, c.dossier_id == dossier)
    referent = people.referent.id
    assert listed(site, f"?personne={referent}") == event_ids(database, c.actor_id == referent)
    assert listed(site, "?type=membre.role") == [dated["role"]]
    members = event_ids(database, c.kind.like("membre.%"))
    assert listed(site, "?type=membre.") == members and len(members) > 2
    assert listed(site, "?type=membre") == []  # no dot: an exact kind
    assert listed(site, "?type=membr_.") == []  # `_` is no wildcard
    # Days are French days: 1 March 23:30 UTC is 2 March in Paris.
    assert listed(site, "?du=2020-03-02&au=2020-03-05") == [dated["role"], dated["add"]]
    assert listed(site, "?du=02/03/2020&au=05/03/2020") == [dated["role"], dated["add"]]
    assert listed(site, "?au=2020-03-01") == []
    assert listed(site, "?du=2020-03-06&au=2020-03-31") == [dated["login"]]
    both = f"?type=membre.&personne={referent}&du=2020-03-01&au=2020-03-31"
    assert listed(site, both) == [dated["role"], dated["add"]]
    page = site.get(f"/admin/journal?dossier={dossier}&type=membre.")
    assert f'href="/admin/journal.csv?dossier={dossier}&amp;type=membre."' in page.text
    assert f'id="dossier" name="dossier" type="text" value="{dossier}"' in page.text


def test_journal_refuses_unreadable_filters(site: TestClient, people: World) -> None:
    login(site, people.admin.email)
    page = site.get("/admin/journal?dossier=douze&du=31/02/2020&personne=x")
    assert page.status_code == 422
    assert 'class="error-summary"' in page.text
    assert "Le numéro de dossier est un nombre entier" in page.text
    assert "Saisissez une date valide" in page.text
    assert "Choisissez une personne dans la liste" in page.text
    assert 'aria-invalid="true"' in page.text and not _ROW_ID.findall(page.text)
    backwards = site.get("/admin/journal?du=2020-03-05&au=2020-03-01")
    assert backwards.status_code == 422
    assert "La date de fin précède la date de début." in backwards.text
    huge = site.get("/admin/journal?dossier=99999999999999999999&du=9999-12-31")
    assert huge.status_code == 422  # never reaches the database as an overflowing number
    assert site.get("/admin/journal.csv?au=hier").status_code == 422


def test_journal_is_paginated(site: TestClient, database: Database, people: World) -> None:
    with database.session() as session:
        for n in range(230):
            audit.record(session, "test.bulk", target=f"n:{n}")
    login(site, people.admin.email)
    ids = event_ids(database)
    assert listed(site) == ids[:100]
    second = site.get("/admin/journal?page=2")
    assert [int(i) for i in _ROW_ID.findall(second.text)] == ids[100:200]
    assert 'href="/admin/journal?page=1" rel="prev"' in second.text
    assert 'href="/admin/journal?page=3" rel="next"' in second.text
    pages = (len(ids) + 99) // 100
    last = site.get(f"/admin/journal?page={pages}")
    assert [int(i) for i in _ROW_ID.findall(last.text)] == ids[(pages - 1) * 100 :]
    assert f"Page {pages} sur {pages}" in last.text and 'rel="next"' not in last.text
    assert listed(site, "?page=999") == ids[(pages - 1) * 100 :]  # past the end: the last page
    bulk = site.get("/admin/journal?type=test.bulk&page=2")
    assert 'href="/admin/journal?type=test.bulk&amp;page=3" rel="next"' in bulk.text
    assert "230 événements correspondant aux filtres" in bulk.text


def test_csv_export(site: TestClient, database: Database, people: World) -> None:
    with database.session() as session:
        formula = user(session, "=cmd@evil.fr", "Mallory")
        audit.record(session, "note.add", actor=formula, target='=HYPERLINK("http://x")')
        audit.record(session, "note.add", actor=people.admin, target="+33 1 23", quoi="été")
        audit.record(session, "note.add", target="-2+3", texte="=1+1")
        audit.record(session, "note.add", target="@SUM(A1)")
        audit.record(session, "other.add", target="section:1")
    login(site, people.admin.email)
    response = site.get("/admin/journal.csv?type=note.")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="journal-audit.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")  # so spreadsheets read UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(audit.CSV_COLUMNS)
    assert [r[6] for r in rows[1:]] == [
        '\'=HYPERLINK("http://x")',
        "'+33 1 23",
        "'-2+3",
        "'@SUM(A1)",
    ]
    first, second, third = rows[1], rows[2], rows[3]
    assert first[3] == str(formula.id) and first[4] == "'=cmd@evil.fr"
    assert second[4] == people.admin.email and json.loads(second[7]) == {"quoi": "été"}
    assert json.loads(third[7]) == {"texte": "=1+1"} and third[3] == third[4] == ""
    with database.session() as session:
        stored = session.get(AuditEvent, int(second[0]))
        assert stored is not None
        assert second[1] == stored.created_at.isoformat() and second[2] == "note.add"
        assert (second[8], second[9]) == (stored.prev_hash, stored.hash)
        exports = session.exec(select(AuditEvent).where(AuditEvent.kind == "audit.export")).all()
    assert [(e.actor_id, e.data) for e in exports] == [
        (people.admin.id, {"format": "csv", "type": "note."})
    ]


@pytest.mark.parametrize("who", ["referent", "outsider"])
def test_journal_is_for_admins_only(
    site: TestClient, database: Database, people: World, who: str
) -> None:
    person = getattr(people, who)
    login(site, person.email)
    for path in ("/admin/journal", "/admin/journal.csv"):
        response = site.get(path)
        assert response.status_code == 403
        assert "Journal" not in response.text
    with database.session() as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.kind == "policy.denied")).all()
    assert [(e.actor_id, e.target) for e in denied] == [
        (person.id, "GET /admin/journal"),
        (person.id, "GET /admin/journal.csv"),
    ]
    assert "/admin/journal" not in site.get("/dossiers").text


def test_journal_asks_anonymous_visitors_to_log_in(site: TestClient) -> None:
    for path in ("/admin/journal", "/admin/journal.csv?type=auth."):
        response = site.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/admin/journal")


def test_an_intact_chain_is_reported_with_its_head(database: Database, people: World) -> None:
    found = report(database)
    ids = event_ids(database)
    assert found.intact and found.checked == len(ids) > 5
    with database.session() as session:
        head = session.get(AuditEvent, ids[0])
        assert head is not None
    assert found.last_hash == head.hash
    assert found.summary() == f"Chaîne intacte : {len(ids)} événements vérifiés."


def test_an_empty_chain_is_intact(database: Database) -> None:
    assert report(database) == audit.ChainReport(0)
    assert audit.ChainReport(0).summary() == "Chaîne intacte : 0 événement vérifié."


@pytest.mark.parametrize(
    "change",
    [{"data": {"forged": 1}}, {"kind": "forged.kind"}, {"target": "user:999999"}],
    ids=["data", "kind", "target"],
)
def test_a_rewritten_event_is_located(
    site: TestClient, database: Database, people: World, change: dict[str, Any]
) -> None:
    victim = middle_event(database)
    tamper(database, victim, **change)
    found = report(database)
    assert (found.broken_at, found.breakage) == (victim, Break.CONTENT)
    assert found.checked == len([i for i in event_ids(database) if i < victim])
    summary = f"Chaîne rompue à l'événement n° {victim} : son contenu a été modifié"
    assert found.summary().startswith(summary)
    login(site, people.admin.email)
    page = site.get("/admin/journal")
    assert summary.replace("'", "&#39;") in page.text and 'role="alert"' in page.text
    assert "Chaîne intacte" not in page.text
    assert f'<th scope="row">{victim} <span class="tag tag--alert">chaîne rompue ici' in page.text


def test_a_rewritten_and_rehashed_event_breaks_the_next_link(
    database: Database, people: World
) -> None:
    victim = middle_event(database)
    with database.session() as session:
        event = session.get(AuditEvent, victim)
        assert event is not None
        session.expunge(event)  # the forgery is computed here, written below by SQL
        event.data = {"forged": True}
        forged = event_hash(event)
    tamper(database, victim, data={"forged": True}, hash=forged)
    following = min(i for i in event_ids(database) if i > victim)
    found = report(database)
    assert (found.broken_at, found.breakage) == (following, Break.LINK)
    assert f"l'événement n° {victim} comme son précédent" in found.detail


def test_a_deleted_event_is_located(site: TestClient, database: Database, people: World) -> None:
    victim = middle_event(database)
    following = min(i for i in event_ids(database) if i > victim)
    delete(database, victim)
    found = report(database)
    assert (found.broken_at, found.breakage) == (following, Break.DELETED)
    summary = (
        f"Chaîne rompue à l'événement n° {following} : "
        f"l'événement n° {victim}, qui le précédait, a été supprimé."
    )
    assert found.summary() == summary
    login(site, people.admin.email)
    assert summary.replace("'", "&#39;") in site.get("/admin/journal").text


def test_deleting_the_first_events_is_located(database: Database, people: World) -> None:
    first, second, third = sorted(event_ids(database))[:3]
    delete(database, first)
    delete(database, second)
    found = report(database)
    assert (found.broken_at, found.breakage) == (third, Break.DELETED)
    assert f"(entre les n° {first} et {second})" in found.detail
