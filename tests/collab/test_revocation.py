"""Rights change live: open connections follow assignments, roles and memberships at once."""

from __future__ import annotations

import asyncio
import re

import httpx
from pycrdt import Map

from app.services import documents

from .conftest import Live
from .test_live import stored_updates
from .test_refusals import handshake_status
from .yclient import YClient, run

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def post_as_referent(live: Live, path: str, data: dict[str, str]) -> None:
    with httpx.Client(base_url=live.url) as client:
        client.post(
            "/login", data={"email": live.w.referent.email, "password": "correct horse battery"}
        )
        match = _CSRF.search(client.get("/dossiers").text)
        assert match
        response = client.post(
            path, data={**data, "csrf_token": match.group(1)}, headers={"Origin": live.url}
        )
        assert response.status_code == 303, response.text


def test_removing_a_member_closes_their_connection(live: Live) -> None:
    async def scenario() -> None:
        async with YClient(
            live.section_url(0), live.cookie(live.w.producteur.email), live.url
        ) as prod:
            await prod.synced.wait()
            await asyncio.to_thread(
                post_as_referent,
                live,
                f"/dossiers/{live.w.dossier.id}/membres/{live.w.producteur.id}/retirer",
                {},
            )
            await prod.wait(lambda: prod.closed is not None, what="the connection to close")
            assert prod.closed is not None and prod.closed[0] == 4403

    run(scenario())


def test_losing_a_section_turns_the_connection_read_only(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        async with (
            YClient(url, live.cookie(live.w.producteur.email), live.url) as prod,
            YClient(url, live.cookie(live.w.referent.email), live.url) as ref,
        ):
            await prod.synced.wait()
            await ref.synced.wait()
            prod.set_answer("gouvernance.budget", 1.0)
            await ref.wait(lambda: ref.answers().get("gouvernance.budget") == 1.0)
            await asyncio.to_thread(
                post_as_referent,
                live,
                f"/dossiers/{live.w.dossier.id}/attributions",
                {},
            )  # no owner left for any section
            await prod.wait(lambda: prod.denied == ["lecture seule"], what="downgrade notice")
            prod.set_answer("gouvernance.budget", 2.0)
            await asyncio.sleep(0.3)
            assert ref.answers()["gouvernance.budget"] == 1.0
            assert prod.closed is None  # still reading

    run(scenario())


def test_a_change_of_role_turns_the_connection_read_only_from_the_next_update(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        async with (
            YClient(url, live.cookie(live.w.producteur.email), live.url) as prod,
            YClient(url, live.cookie(live.w.referent.email), live.url) as ref,
        ):
            await prod.synced.wait()
            await ref.synced.wait()
            prod.set_answer("gouvernance.budget", 1.0)
            await prod.wait(prod.saved, what="the producteur's answer saved")
            await asyncio.to_thread(
                post_as_referent,
                live,
                f"/dossiers/{live.w.dossier.id}/membres/{live.w.producteur.id}/role",
                {"role": "relecteur"},
            )
            await prod.wait(lambda: prod.denied == ["lecture seule"], what="downgrade notice")
            prod.set_answer("gouvernance.budget", 2.0)
            await prod.wait(
                lambda: prod.denied == ["lecture seule"] * 2, what="the next update refused"
            )
            # Acknowledged after the server sent `ref` anything it relayed before.
            ref.set_answer("gouvernance.elu", True)
            await ref.wait(ref.saved, what="the référent's answer saved")
            assert ref.answers()["gouvernance.budget"] == 1.0
            await prod.wait(lambda: prod.answers().get("gouvernance.elu") is True)
            assert prod.closed is None  # still reading

    run(scenario())
    assert [r.user_id for r in stored_updates(live)].count(live.w.producteur.id) == 1
    with live.db.session() as session:
        doc = documents.load(session, live.w.sections[0].doc_name)
    assert doc.get("answers", type=Map).to_py() == {
        "gouvernance.budget": 1.0,
        "gouvernance.elu": True,
    }


def test_a_join_made_after_a_change_of_rights_is_decided_afresh(live: Live) -> None:
    """Join decisions are remembered briefly; a change of rights must forget them."""

    async def scenario() -> None:
        url, cookie = live.section_url(0), live.cookie(live.w.producteur.email)
        async with YClient(url, cookie, live.url) as before:
            await before.synced.wait()  # remembered: the producteur may write this section
        await asyncio.to_thread(
            post_as_referent, live, f"/dossiers/{live.w.dossier.id}/attributions", {}
        )
        async with YClient(url, cookie, live.url) as after:
            await after.synced.wait()
            after.set_answer("gouvernance.budget", 3.0)
            await after.wait(lambda: after.denied == ["lecture seule"], what="read-only notice")
        await asyncio.to_thread(
            post_as_referent,
            live,
            f"/dossiers/{live.w.dossier.id}/membres/{live.w.producteur.id}/retirer",
            {},
        )
        assert await handshake_status(url, cookie, live.url) == 403

    run(scenario())
