"""The demonstration stays open whatever today's date: the server locks drafts past their
campagne's deadline, and the shipped campagne's real deadline may be behind us."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select

from app.db import Database
from app.models import Campagne, Dossier, DossierState
from app.services import deadlines, demo

from ..conftest import make_settings


def test_the_demo_pushes_a_past_deadline_ahead_and_reopens_a_locked_demo(
    database: Database,
) -> None:
    with database.session() as session:
        ids = demo.load(session, "mot-de-passe-demo")
        campagne = session.exec(select(Campagne)).one()
        campagne.date_limite = date(2020, 11, 16)  # as if the demo were loaded long ago
        session.add(campagne)
    with database.session() as session:  # the server's periodic job then locks it
        deadlines.tick(session, make_settings(database.url), date.today())
        dossier = session.get(Dossier, ids.dossier)
        assert dossier is not None and dossier.etat == DossierState.verrouille
    with database.session() as session:  # `make run` loads the demo again
        demo.load(session, "mot-de-passe-demo")
    with database.session() as session:
        campagne = session.exec(select(Campagne)).one()
        assert campagne.date_limite >= date.today() + timedelta(days=30)
        dossier = session.get(Dossier, ids.dossier)
        assert dossier is not None and dossier.etat == DossierState.brouillon
        report = deadlines.tick(session, make_settings(database.url), date.today())
        assert report.locked == 0
