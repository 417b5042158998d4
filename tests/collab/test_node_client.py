"""A real Yjs client (the yjs and y-websocket npm packages, run by node) co-edits with pycrdt."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from pycrdt import XmlFragment

from app.services import documents

from .conftest import Live
from .yclient import YClient, run

SCRIPT = Path(__file__).resolve().parents[1] / "browser" / "yjs_client.mjs"


def test_yjs_and_pycrdt_clients_converge_through_our_server(live: Live) -> None:
    section = live.w.sections[0]
    cookie = live.cookie(live.w.producteur.email)
    node_result: dict[str, object] = {}

    async def scenario() -> None:
        async with YClient(live.section_url(0), live.cookie(live.w.referent.email), live.url) as py:
            await py.synced.wait()
            env = {
                **os.environ,
                "BASE": f"{live.ws}/collab",
                "ROOM": section.doc_name,
                "COOKIE": cookie,
                "ORIGIN": live.url,
                "KEY": "gouvernance.strategie",
                "WAIT_FOR": "Écrit depuis Python.",
            }
            node = await asyncio.create_subprocess_exec(
                "node", str(SCRIPT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                await py.wait(
                    lambda: "Écrit depuis node." in py.rich_text("gouvernance.strategie"),
                    what="node's paragraph",
                )
            except AssertionError:
                out, err = await node.communicate()
                raise AssertionError(f"node said: {out.decode()} {err.decode()}") from None
            py.append_paragraph("gouvernance.strategie", "Écrit depuis Python.")
            out, err = await asyncio.wait_for(node.communicate(), 20)
            assert node.returncode == 0, err.decode()
            node_result.update(json.loads(out))
            await py.wait(lambda: py.answers().get("gouvernance.elu") is True)
            assert py.rich_text("gouvernance.strategie") == node_result["fragment"]
            await py.wait(py.saved)

    run(scenario())
    assert node_result["answers"] == {"gouvernance.elu": True}
    with live.db.session() as session:
        doc = documents.load(session, section.doc_name)
    assert str(doc.get("gouvernance.strategie", type=XmlFragment)) == node_result["fragment"]
