"""A restore reaches the people editing the section at once, and is a new change in the log;
then the manager's part of it without a socket."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import anyio
import httpx
from pycrdt import Doc, Map
from sqlmodel import col, select

from app.models import AuditEvent, DocUpdate
from collab import protocol
from collab.manager import Manager
from collab.room import Permission
from collab.store import MemoryStore

from ..app.factories import PASSWORD
from .conftest import Live
from .test_manager import connection, synced
from .yclient import YClient, run

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
STRATEGY = "gouvernance.strategie"


def log(live: Live, doc_name: str) -> list[tuple[int, bytes, int | None, str]]:
    with live.db.session() as session:
        rows = session.exec(
            select(DocUpdate).where(DocUpdate.doc_name == doc_name).order_by(col(DocUpdate.id))
        )
        return [(r.id, r.data, r.user_id, r.connection_id) for r in rows]  # type: ignore[misc]


def restore_as_referent(live: Live, section_id: int, upto: int) -> httpx.Response:
    with httpx.Client(base_url=live.url, follow_redirects=True) as client:
        client.post("/login", data={"email": live.w.referent.email, "password": PASSWORD})
        match = _CSRF.search(client.get(f"/sections/{section_id}/historique/{upto}").text)
        assert match, "no restore form for the référent"
        return client.post(
            f"/sections/{section_id}/historique/{upto}/restaurer",
            data={"csrf_token": match.group(1)},
            headers={"Origin": live.url},
        )


def test_a_connected_producteur_sees_the_restored_version_at_once(live: Live) -> None:
    section_id = live.w.sections[0].id
    assert section_id is not None
    doc_name = f"section-{section_id}"

    async def scenario() -> None:
        url = live.section_url(0)
        async with YClient(url, live.cookie(live.w.producteur.email), live.url) as prod:
            await prod.synced.wait()
            prod.append_paragraph(STRATEGY, "Première rédaction.")
            await prod.wait(prod.saved, what="the first paragraph to be saved")
            upto = log(live, doc_name)[-1][0]
            prod.append_paragraph(STRATEGY, "Ajout à retirer.")
            prod.set_answer("gouvernance.budget", 12000.0)
            await prod.wait(prod.saved, what="the later changes to be saved")
            before = log(live, doc_name)

            response = await asyncio.to_thread(restore_as_referent, live, section_id, upto)
            assert response.status_code == 200, response.text  # redirected to the history
            assert "La version est restaurée" in response.text

            # Committed before the answer came back, and relayed to the open editor.
            after = log(live, doc_name)
            assert after[: len(before)] == before  # no row rewritten or deleted
            new = after[len(before) :]
            assert new and all(
                (user, conn) == (live.w.referent.id, "restauration") for _, _, user, conn in new
            )
            await prod.wait(
                lambda: "Ajout à retirer." not in prod.rich_text(STRATEGY),
                what="the restored text to reach the producteur",
            )
            assert "Première rédaction." in prod.rich_text(STRATEGY)
            await prod.wait(lambda: "gouvernance.budget" not in prod.answers())

            # The producteur keeps writing on top of the restored version.
            prod.append_paragraph(STRATEGY, "Suite après restauration.")
            await prod.wait(prod.saved, what="writing after the restore to be saved")
        _, _, author, connection = log(live, doc_name)[-1]
        assert author == live.w.producteur.id and connection != "restauration"

    run(scenario())
    with live.db.session() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.kind == "section.restauration"))
        assert event.actor_id == live.w.referent.id and event.data["saved"] is True


# The manager's part without a socket --------------------------------------------------------


def change(doc: Any, key: str, value: float) -> bytes:
    before = doc.get_state()
    doc.get("answers", type=Map)[key] = value
    return bytes(doc.get_update(before))


def test_a_server_change_reaches_every_connection_and_is_committed_as_its_author() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        manager = Manager(store, flush_interval=0.005)
        async with manager.running():
            writer, reader = connection(1), connection(2, Permission.READ)
            room = await manager.join("section-1", writer)
            await manager.join("section-1", reader)
            for conn in (writer, reader):
                synced(room, conn)
                conn.channel.sent.clear()  # type: ignore[attr-defined]
            server = Doc()
            server.apply_update(manager.live_state("section-1") or b"")
            assert await manager.apply_server_update("section-1", change(server, "b", 1.0), 9)
            for conn in (writer, reader):  # the sender of an edit is skipped; here there is none
                sent = conn.channel.sent  # type: ignore[attr-defined]
                assert [m[0] for m in sent] == [protocol.SYNC]
            [(_, stored)] = store.rows
            assert (stored.user_id, stored.connection_id) == (9, "restauration")
            assert room.doc.get("answers", type=Map).to_py() == {"b": 1.0}

    run(scenario())


def test_a_server_change_without_a_room_goes_to_the_log() -> None:
    async def scenario() -> None:
        store = MemoryStore()
        manager = Manager(store)
        async with manager.running():
            assert manager.live_state("section-2") is None
            update = change(Doc(), "b", 2.0)
            assert await manager.apply_server_update("section-2", update, 9, "restauration")
            conn = connection(1)
            room = await manager.join("section-2", conn)  # a room opened later loads it
            assert room.doc.get("answers", type=Map).to_py() == {"b": 2.0}
        assert [(s.user_id, s.connection_id, s.data) for _, s in store.rows] == [
            (9, "restauration", update)
        ]

    run(scenario())


def test_a_server_change_is_kept_while_the_store_is_down() -> None:
    async def scenario() -> None:
        store = MemoryStore(fail=True)
        manager = Manager(store, flush_interval=0.005)
        async with manager.running():
            conn = connection(1)
            room = await manager.join("section-3", conn)
            synced(room, conn)
            assert not await manager.apply_server_update("section-3", change(Doc(), "b", 3.0), 9)
            store.fail = False  # the database is back: a later flush writes it
            with anyio.fail_after(5):
                while not store.rows:
                    await anyio.sleep(0.01)
            assert store.rows[0][1].connection_id == "restauration"

    run(scenario())
