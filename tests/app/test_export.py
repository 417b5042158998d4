"""The JSON export over HTTP: who may download it and what it holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from app.db import Database
from app.models import AuditEvent
from app.services import export
from app.settings import Settings

from .factories import World, answer, world
from .web import login


@pytest.fixture
def w(settings: Settings) -> Iterator[World]:
    database = Database(settings.database_url)
    with database.session() as session:
        built = world(session)
        answer(
            session,
            built.sections[0],
            built.producteur,
            {
                "gouvernance.strategie": [{"type": "paragraphe", "texte": "Une <b>stratégie</b>."}],
                "gouvernance.budget": 1234.5,
            },
        )
        answer(
            session,
            built.sections[1],
            built.referent,
            {
                "services.canaux": ["site", "appli"],
                "services.ouverture": date(2025, 3, 12),
            },
        )
    yield built
    database.dispose()


def test_referent_downloads_the_whole_dossier(
    client: TestClient, w: World, settings: Settings
) -> None:
    login(client, w.referent.email)
    response = client.get(f"/dossiers/{w.dossier.id}/export.json")
    assert response.status_code == 200
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="dossier-{w.dossier.id}.json"'
    )
    data = response.json()
    assert data["format"] == export.EXPORT_FORMAT
    assert data["collectivite"]["nom"] == "Testville"
    assert data["campagne"]["annee"] == 2030
    gouvernance, services = data["sections"]
    assert gouvernance["proprietaires"] == [{"nom": "Paul Producteur", "email": "prod@test.fr"}]
    questions = {q["cle"]: q for q in gouvernance["questions"]}
    assert questions["gouvernance.strategie"]["texte"] == "Une <b>stratégie</b>."
    assert questions["gouvernance.strategie"]["html"] == "<p>Une &lt;b&gt;stratégie&lt;/b&gt;.</p>"
    assert questions["gouvernance.budget"]["reponse"] == 1234.5
    assert questions["gouvernance.budget"]["texte"] == "1\u202f234,5 €"
    assert questions["gouvernance.elu"]["reponse"] is None
    services_q = {q["cle"]: q for q in services["questions"]}
    assert services_q["services.canaux"]["texte"] == "Site web, Application mobile"
    assert services_q["services.ouverture"]["texte"] == "12 mars 2025"
    with Database(settings.database_url).session() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.kind == "dossier.export")).first()


@pytest.mark.parametrize("who", ["producteur", "relecteur", "outsider"])
def test_others_may_not_export(client: TestClient, w: World, who: str) -> None:
    login(client, getattr(w, who).email)
    assert client.get(f"/dossiers/{w.dossier.id}/export.json").status_code == 403
