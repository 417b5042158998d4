"""Co-editing through the real server: convergence, rights, durability, presence, bad input."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select

from app.models import DocUpdate
from app.services import answers, documents

from .conftest import Live
from .yclient import YClient, presence_names, run


def stored_updates(live: Live, index: int = 0) -> list[DocUpdate]:
    name = live.w.sections[index].doc_name
    with live.db.session() as session:
        return list(
            session.exec(
                select(DocUpdate).where(DocUpdate.doc_name == name).order_by(col(DocUpdate.id))
            )
        )


def test_two_writers_converge_and_every_update_is_stored_and_attributed(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        ref, prod = live.cookie(live.w.referent.email), live.cookie(live.w.producteur.email)
        async with YClient(url, ref, live.url) as a, YClient(url, prod, live.url) as b:
            await a.synced.wait()
            await b.synced.wait()
            a.append_paragraph("gouvernance.strategie", "Première phrase.")
            b.set_answer("gouvernance.budget", 42000.0)
            await a.wait(lambda: a.answers().get("gouvernance.budget") == 42000.0)
            await b.wait(lambda: "Première phrase." in b.rich_text("gouvernance.strategie"))
            await a.wait(a.saved, what="a's durable ack")
            await b.wait(b.saved, what="b's durable ack")

    run(scenario())
    rows = stored_updates(live)
    assert {r.user_id for r in rows} == {live.w.referent.id, live.w.producteur.id}
    with live.db.session() as session:
        doc = documents.load(session, live.w.sections[0].doc_name)
    assert "Première phrase." in str(doc.get("gouvernance.strategie", type=answers.XmlFragment))


def test_a_read_only_connection_never_changes_anything(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        writer_cookie = live.cookie(live.w.producteur.email)
        reader_cookie = live.cookie(live.w.relecteur.email)
        async with YClient(url, writer_cookie, live.url) as writer:
            await writer.synced.wait()
            writer.set_answer("gouvernance.budget", 1.0)
            await writer.wait(writer.saved)
            async with YClient(url, reader_cookie, live.url) as reader:
                await reader.synced.wait()
                assert reader.answers() == {"gouvernance.budget": 1.0}
                assert reader.denied == []  # the echo of the initial sync is not a violation
                reader.set_answer("gouvernance.budget", 666.0)
                reader.append_paragraph("gouvernance.strategie", "Intrusion")
                await reader.wait(lambda: len(reader.denied) >= 1, what="permission denied")
                writer.set_answer("gouvernance.elu", True)  # the room goes on
                await reader.wait(lambda: reader.answers().get("gouvernance.elu") is True)
                assert reader.durable == {}
            await asyncio.sleep(0.2)
            assert writer.answers()["gouvernance.budget"] == 1.0
            assert "Intrusion" not in writer.rich_text("gouvernance.strategie")

    run(scenario())
    assert {r.user_id for r in stored_updates(live)} == {live.w.producteur.id}
    with live.db.session() as session:
        doc = documents.load(session, live.w.sections[0].doc_name)
    assert doc.get("answers", type=answers.Map).to_py() == {
        "gouvernance.budget": 1.0,
        "gouvernance.elu": True,
    }


def test_presence_is_stamped_by_the_server(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        async with (
            YClient(url, live.cookie(live.w.producteur.email), live.url) as a,
            YClient(url, live.cookie(live.w.relecteur.email), live.url) as b,
        ):
            await a.synced.wait()
            await b.synced.wait()
            await a.set_presence({"user": {"name": "Le Maire", "color": "#000"}, "cursor": 3})
            await b.wait(lambda: "Paul Producteur" in presence_names(b), what="a's presence")
            assert "Le Maire" not in presence_names(b)
            # b may not speak for a's client id.
            await b.set_presence({"user": {"name": "x"}}, client_id=a.doc.client_id, clock=9)
            await b.set_presence({"cursor": 1})
            await a.wait(lambda: "Rose Relectrice" in presence_names(a))
            assert a.awareness[a.doc.client_id]["user"]["name"] == "Paul Producteur"  # type: ignore[index]
        # when a leaves, b sees it gone (checked from a third client)
        async with YClient(url, live.cookie(live.w.referent.email), live.url) as c:
            await c.synced.wait()
            await asyncio.sleep(0.1)
            assert presence_names(c) <= {"Rita Référente"}

    run(scenario())


def test_twenty_simultaneous_first_joins_all_sync(live: Live) -> None:
    """A room is opened once, behind a lock: no joiner hangs (a known pitfall of peers)."""

    async def scenario() -> None:
        url = live.section_url(1)
        cookies = [live.cookie(email) for email in (live.w.referent.email, live.w.admin.email)]
        clients = [YClient(url, cookies[i % 2], live.url) for i in range(20)]
        await asyncio.gather(*(c.__aenter__() for c in clients))
        await asyncio.wait_for(asyncio.gather(*(c.synced.wait() for c in clients)), 10)
        clients[0].set_answer("services.portail", "https://a.fr")
        await asyncio.gather(
            *(
                c.wait(lambda c=c: c.answers().get("services.portail") == "https://a.fr")
                for c in clients
            )
        )
        await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients))

    run(scenario())


def test_a_writer_resending_known_updates_still_learns_what_is_durable(live: Live) -> None:
    """After a reconnection its earlier acknowledgement may have gone to the dead socket."""

    async def scenario() -> None:
        url = live.section_url(0)
        cookie = live.cookie(live.w.producteur.email)
        async with YClient(url, cookie, live.url) as first:
            await first.synced.wait()
            first.set_answer("gouvernance.budget", 3.0)
            await first.wait(first.saved)
        again = YClient(url, cookie, live.url)
        again.doc.apply_update(first.doc.get_update())  # the same edits, as after a reconnect
        async with again:
            await again.synced.wait()
            await again.wait(
                lambda: again.durable.get(first.doc.client_id, 0) >= 1,
                what="an acknowledgement for known updates",
            )

    run(scenario())
