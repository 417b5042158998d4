"""Submitting a dossier turns every open editing connection read-only at once."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from app.models import Dossier, DossierState, Section, SectionStatus

from .conftest import Live
from .test_revocation import post_as_referent
from .test_workflow_live import round_trip
from .yclient import YClient, run


def test_submitting_freezes_open_connections(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        async with (
            YClient(url, live.cookie(live.w.producteur.email), live.url) as prod,
            YClient(url, live.cookie(live.w.referent.email), live.url) as ref,
        ):
            await asyncio.wait_for(prod.synced.wait(), 10)
            await asyncio.wait_for(ref.synced.wait(), 10)
            prod.append_paragraph("gouvernance.strategie", "Notre stratégie.")  # required
            await prod.wait(prod.saved, what="the answer saved")
            with live.db.session() as session:  # the référent has validated every section
                for section in session.exec(select(Section)):
                    section.statut = SectionStatus.validee
                    session.add(section)
            await asyncio.to_thread(
                post_as_referent,
                live,
                f"/dossiers/{live.w.dossier.id}/deposer",
                {"confirmation": "oui"},
            )
            await prod.wait(lambda: prod.denied == ["lecture seule"], what="read-only notice")
            await ref.wait(lambda: ref.denied == ["lecture seule"], what="read-only notice")
            prod.append_paragraph("gouvernance.strategie", "Ajout après le dépôt.")
            await asyncio.sleep(0)  # let the client's send task go out first
            await round_trip(prod)
            await round_trip(ref)
            assert "Ajout après le dépôt." not in ref.rich_text("gouvernance.strategie")
        with live.db.session() as session:
            dossier = session.get(Dossier, live.w.dossier.id)
            assert dossier is not None and dossier.etat == DossierState.depose

    run(scenario())
