"""A thread's passage follows live, concurrent editing by real clients, and the server says so.

A real Yjs client (node: yjs + y-websocket) writes a paragraph and anchors a passage as the
editor island does; a relecteur opens a thread on it over HTTP. Then (a) the Yjs client inserts
text before the passage while a pycrdt client concurrently (b) edits inside it; then the Yjs client
(c) deletes it: the server's reading — on the section page — moves, grows, then says « passage
supprimé » with the quote; re-attaching to a new passage brings the thread back.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from pycrdt import XmlElement, XmlFragment, XmlText
from sqlmodel import select

from app.models import Thread
from app.services import documents

from ..app.comment_helpers import KEY
from .conftest import Live
from .yclient import YClient, run

SCRIPT = Path(__file__).resolve().parents[1] / "browser" / "anchor_client.mjs"
TEXT = "Avant tout. Le passage commente ici. Apres."


class Node:
    """The Yjs client, one JSON command and answer per line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 20)
        if not line:
            assert self.process.stderr is not None
            raise AssertionError(f"node stopped: {(await self.process.stderr.read()).decode()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        await self.send(command)
        return await self.read()


async def stored(live: Live, expected: str) -> None:
    """Wait until the server has stored a paragraph reading `expected`."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        with live.db.session() as session:
            doc = documents.load(session, live.w.sections[0].doc_name)
        if f"<paragraph>{expected}</paragraph>" in str(doc.get(KEY, type=XmlFragment)):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never stored: {expected}")
        await asyncio.sleep(0.05)


async def thread_on_page(web: httpx.AsyncClient, live: Live) -> tuple[str, str]:
    """(placement, passage) of the only thread, as the section page shows it."""
    html = unescape((await web.get(f"/sections/{live.w.sections[0].id}")).text)
    placement = re.search(r'data-placement="([a-z_]+)"', html)
    quote = re.search(r'<blockquote class="thread__quote"><p>(.*?)</p>', html, re.S)
    assert placement and quote, html
    shown = re.sub(r'<span class="visually-hidden">.*?</span>', "", quote.group(1))
    return placement.group(1), re.sub(r"<[^>]+>", "", shown)


def insert_inside(client: YClient, before: str, text: str) -> None:
    """The pycrdt client's edit (ASCII text: pycrdt counts bytes, Yjs UTF-16 units)."""
    for child in client.doc.get(KEY, type=XmlFragment).children:
        assert isinstance(child, XmlElement)
        for node in child.children:
            if isinstance(node, XmlText) and before in str(node):
                node.insert(str(node).index(before), text)
                return
    raise AssertionError(f"no {before!r} in {client.rich_text(KEY)}")


def test_a_passage_follows_concurrent_editing(live: Live) -> None:
    section = live.w.sections[0]

    async def scenario() -> None:
        env = {
            **os.environ,
            "BASE": f"{live.ws}/collab",
            "ROOM": section.doc_name,
            "COOKIE": live.cookie(live.w.producteur.email),
            "ORIGIN": live.url,
            "KEY": KEY,
            "TEXT": TEXT,
            "PASSAGE": "passage commente",
        }
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        node = Node(process)
        cookie = live.cookie(live.w.relecteur.email)
        async with (
            httpx.AsyncClient(base_url=live.url, headers={"Cookie": cookie}) as web,
            YClient(live.section_url(0), live.cookie(live.w.referent.email), live.url) as py,
        ):
            anchors = (await node.read())["anchors"]
            await stored(live, TEXT)
            page = (await web.get(f"/sections/{section.id}")).text
            token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
            assert token
            form = {"csrf_token": token.group(1), "question": KEY, "body": "Lequel ?"}
            opened = await web.post(
                f"/sections/{section.id}/commentaires",
                data={**form, "anchor_start": anchors["start"], "anchor_end": anchors["end"]},
            )
            assert opened.status_code == 303, opened.text
            assert await thread_on_page(web, live) == ("attache", "passage commente")

            # (a) and (b) at once: the Yjs client types before the passage, the pycrdt client in it.
            await py.wait(lambda: TEXT in py.rich_text(KEY), what="the paragraph")
            await node.send({"insert": "Tout d'abord. ", "before": "Avant"})
            insert_inside(py, " commente", " bien")
            await node.read()
            merged = "Tout d'abord. Avant tout. Le passage bien commente ici. Apres."
            await stored(live, merged)
            assert await thread_on_page(web, live) == ("attache", "passage bien commente")

            # (c) the Yjs client deletes the passage, once it has the pycrdt client's edit.
            while "bien" not in (await node.ask({"text": True}))["text"]:
                await asyncio.sleep(0.05)
            await node.ask({"delete": "passage bien commente"})
            await stored(live, "Tout d'abord. Avant tout. Le  ici. Apres.")
            assert await thread_on_page(web, live) == ("supprime", "passage commente")
            page = unescape((await web.get(f"/sections/{section.id}")).text)
            assert "Passage supprimé" in page

            # Re-attached to a new passage, the thread follows that one.
            anchors = (await node.ask({"anchors": "Apres"}))["anchors"]
            with live.db.session() as session:
                [thread] = session.exec(select(Thread)).all()
            moved = await web.post(
                f"/commentaires/fils/{thread.id}/rattacher",
                data={
                    "csrf_token": token.group(1),
                    "anchor_start": anchors["start"],
                    "anchor_end": anchors["end"],
                },
            )
            assert moved.status_code == 303, moved.text
            assert await thread_on_page(web, live) == ("attache", "Apres")
            await node.send({"quit": True})
            assert await asyncio.wait_for(process.wait(), 10) == 0

    run(scenario())
