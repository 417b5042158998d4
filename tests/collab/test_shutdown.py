"""SIGTERM `arobase serve` while someone types: live-editing clients are told to reconnect with
1012 (service restart) and every update the server had read before the signal is in the database.

What the server has read is what it can answer for: uvicorn closes each socket right after its
1012 close frame, without waiting for the client's, so frames still in flight are never read
(the client keeps them, never acknowledged, and resends them when it reconnects, as after a
crash). A client still sending at that moment may even get a reset rather than the close frame,
and see 1006: hence the typing stops at the signal here.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from pycrdt import Text

from app.db import Database
from app.services import documents
from collab import protocol

from ..app.factories import world
from ..app.test_ops import arobase_serve
from .yclient import YClient, run

SERVICE_RESTART = 1012


def clock_of(state: bytes, client_id: int) -> int:
    reader = protocol.Reader(state)
    for _ in range(reader.var_uint()):
        client, clock = reader.var_uint(), reader.var_uint()
        if client == client_id:
            return clock
    return 0


async def all_read(client: YClient) -> None:
    """Wait until the server has read every update the client has made: the doc observer sends
    each in a task of its own, and the server handles a connection's messages in order, so its
    answer to a sync step 1 sent after them comes once it has applied them all."""
    sends = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.endswith(".send")]
    await asyncio.wait_for(asyncio.gather(*sends), 5)
    client.synced.clear()
    await client.send_raw(protocol.sync_step1(client.doc.get_state()))
    await client.wait(client.synced.is_set, what="the server's sync step 2")


def test_sigterm_closes_with_1012_and_commits_what_the_server_read(
    sqlite_url: str, tmp_path: Path
) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    section = w.sections[0]
    before: dict[str, object] = {}

    with arobase_serve(sqlite_url, tmp_path / "serve.log") as served:
        url = f"ws://127.0.0.1:{served.port}/collab/{section.doc_name}"
        cookies = served.cookie(w.producteur.email), served.cookie(w.relecteur.email)

        async def typing() -> None:
            async with (
                YClient(url, cookies[0], served.url) as writer,
                YClient(url, cookies[1], served.url) as reader,
            ):
                await writer.wait(writer.synced.is_set, what="sync")
                await reader.wait(reader.synced.is_set, what="sync")
                for n in range(200):
                    writer.type_into("frappe", str(n % 10))
                    if n % 20 == 0:
                        await asyncio.sleep(0)  # let the sends go out as a person types
                await all_read(writer)
                before.update(
                    client_id=writer.doc.client_id,
                    clock=writer.own_clock(),
                    text=str(writer.doc.get("frappe", type=Text)),
                )
                os.kill(served.process.pid, signal.SIGTERM)
                for client in (writer, reader):
                    await client.wait(lambda c=client: c.closed is not None, what="closed")
                assert writer.closed is not None and writer.closed[0] == SERVICE_RESTART
                assert reader.closed[0] == SERVICE_RESTART

        run(typing())
        status = served.process.wait(timeout=30)
    # uvicorn re-raises SIGTERM once it has shut down cleanly: the status is SIGTERM's.
    assert status == -signal.SIGTERM
    log = served.log.read_text()
    assert "Application shutdown complete." in log
    assert "Traceback" not in log and "ERROR" not in log, log

    with database.session() as session:
        doc = documents.load(session, section.doc_name)
    assert str(doc.get("frappe", type=Text)) == before["text"]
    assert clock_of(doc.get_state(), int(str(before["client_id"]))) == before["clock"]
    database.dispose()
