"""Every page, for the people who may see it and refused to those who may not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from app.db import Database
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
                "gouvernance.strategie": [
                    {"type": "titre", "texte": "Notre stratégie"},
                    {"type": "paragraphe", "texte": "Adoptée en <script>alert(1)</script> 2025."},
                ],
                "gouvernance.budget": 42000,
                "gouvernance.elu": True,
            },
        )
    yield built
    database.dispose()


def pages(w: World) -> list[str]:
    return [
        "/dossiers",
        f"/dossiers/{w.dossier.id}",
        f"/dossiers/{w.dossier.id}?filtre=mes-sections",
        f"/sections/{w.sections[0].id}",
        f"/sections/{w.sections[1].id}",
    ]


def test_anonymous_visitors_are_sent_to_login(client: TestClient, w: World) -> None:
    for page in pages(w):
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/login?next=/")
    assert client.get("/dossiers/1/export.json", follow_redirects=False).status_code == 303


def test_htmx_anonymous_requests_get_an_htmx_redirect(client: TestClient, w: World) -> None:
    response = client.get(f"/dossiers/{w.dossier.id}", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login?next=")


@pytest.mark.parametrize("who", ["referent", "producteur", "relecteur", "admin"])
def test_every_page_renders_for_those_who_may_read(client: TestClient, w: World, who: str) -> None:
    login(client, getattr(w, who).email)
    for page in pages(w):
        response = client.get(page)
        assert response.status_code == 200, page
        assert response.headers["vary"] == "HX-Request"
        assert response.headers["cache-control"] == "no-store"
        assert "Content-Security-Policy" in response.headers
        assert '<html lang="fr">' in response.text


def test_login_and_static_pages_render_for_anyone(client: TestClient) -> None:
    assert "Connexion" in client.get("/login").text
    assert "Déclaration d'accessibilité" in client.get("/accessibilite").text
    assert client.get("/static/css/arobase.css").status_code == 200
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert client.get("/healthz").text == "ok"


def test_outsiders_are_refused(client: TestClient, w: World) -> None:
    login(client, w.outsider.email)
    assert "aucun dossier" in client.get("/dossiers").text
    for page in pages(w)[1:]:
        response = client.get(page)
        assert response.status_code == 403, page
        assert "Accès refusé" in response.text


def test_unknown_things_are_not_found(client: TestClient, w: World) -> None:
    login(client, w.referent.email)
    for page in ("/dossiers/999", "/sections/999", "/nulle-part", "/dossiers/abc"):
        response = client.get(page)
        assert response.status_code == 404, page
        assert "Page introuvable" in response.text


def test_section_page_shows_answers_rendered_and_sanitised(client: TestClient, w: World) -> None:
    login(client, w.relecteur.email)
    page = client.get(f"/sections/{w.sections[0].id}").text
    assert "<h3>Notre stratégie</h3>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "42\u202f000 €" in page
    assert "(objectif : 50\u202f000 €)" in page
    assert "Oui" in page
    assert "Pas encore de réponse." not in page
    assert "Lecture seule" in page
    assert "Paul Producteur" in page


def test_section_page_tells_owners_they_may_write(client: TestClient, w: World) -> None:
    login(client, w.producteur.email)
    assert "Vous pouvez rédiger cette section" in client.get(f"/sections/{w.sections[0].id}").text
    other = client.get(f"/sections/{w.sections[1].id}").text
    assert "Lecture seule" in other
    assert "Pas encore de réponse." in other


def test_overview_lists_sections_with_owners_status_and_progress(
    client: TestClient, w: World
) -> None:
    login(client, w.producteur.email)
    page = client.get(f"/dossiers/{w.dossier.id}").text
    assert "Gouvernance" in page and "Services en ligne" in page
    assert "Paul Producteur" in page and "Non attribuée" in page
    assert "3 questions renseignées sur 9" in page
    assert "Mes sections (1)" in page
    assert "ma section" in page
    assert "Exporter" not in page  # only référents and admins export


def test_htmx_gets_only_the_fragment(client: TestClient, w: World) -> None:
    login(client, w.producteur.email)
    response = client.get(
        f"/dossiers/{w.dossier.id}?filtre=mes-sections", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="sections"')
    assert "<html" not in response.text
    assert "Gouvernance" in response.text and "Services en ligne" not in response.text
    assert response.headers["vary"] == "HX-Request"


def test_htmx_errors_are_fragments_too(client: TestClient, w: World) -> None:
    login(client, w.outsider.email)
    response = client.get(f"/dossiers/{w.dossier.id}", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert "<html" not in response.text and "Accès refusé" in response.text


def test_server_errors_get_a_page_and_no_details(settings: Settings, w: World) -> None:
    from app.main import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        login(client, w.referent.email)
        database = Database(settings.database_url)
        with database.engine.begin() as conn:
            conn.execute(text("DROP TABLE affectation"))
        database.dispose()
        response = client.get(f"/sections/{w.sections[0].id}")
    assert response.status_code == 500
    assert "Erreur du serveur" in response.text
    assert "affectation" not in response.text and "Traceback" not in response.text
