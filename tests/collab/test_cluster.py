"""Two real server processes on one PostgreSQL and one Redis: clients split across them
co-edit, see each other, follow rights changed through either, and survive a SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from pycrdt import Doc, Text
from websockets import ConnectionClosed

from app.db import Database
from app.services import documents

from ..app.factories import World, world
from ..live import free_port
from .test_durability import cookie, server_process
from .yclient import YClient, presence_names, run

REDIS_URL = os.environ.get("AROBASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
pytestmark = pytest.mark.postgres


@dataclass
class Node:
    port: int
    process: Any

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, doc_name: str) -> str:
        return f"ws://127.0.0.1:{self.port}/collab/{doc_name}"


@dataclass
class Cluster:
    nodes: list[Node]
    w: World
    db: Database

    def client(self, node: Node, email: str, doc: Doc[Any] | None = None) -> YClient:
        name = self.w.sections[0].doc_name
        return YClient(node.url(name), cookie(node.port, email), node.origin, doc)


def reset_rate_limits() -> None:
    """Logins of earlier tests count against the shared Redis limits: start from zero."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter("arobase:rl:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def cluster(postgres_url: str) -> Iterator[Cluster]:
    reset_rate_limits()
    database = Database(postgres_url)
    with database.session() as session:
        w = world(session)
    with ExitStack() as stack:
        nodes = []
        for _ in range(2):
            port = free_port()
            process = stack.enter_context(
                server_process(postgres_url, port, AROBASE_REDIS_URL=REDIS_URL)
            )
            nodes.append(Node(port, process))
        yield Cluster(nodes, w, database)
    database.dispose()


def clocks(doc: Doc[Any]) -> dict[int, int]:
    from collab import protocol

    reader = protocol.Reader(doc.get_state())
    return {reader.var_uint(): reader.var_uint() for _ in range(reader.var_uint())}


def test_clients_on_two_processes_co_edit_and_see_each_other(cluster: Cluster) -> None:
    one, two = cluster.nodes
    w = cluster.w

    async def scenario() -> None:
        async with (
            cluster.client(one, w.producteur.email) as prod,
            cluster.client(two, w.referent.email) as ref,
            cluster.client(two, w.relecteur.email) as rel,
        ):
            for client in (prod, ref, rel):
                await asyncio.wait_for(client.synced.wait(), 10)
            prod.type_into("notes", "écrit sur le processus 1 ; ")
            await rel.wait(lambda: "processus 1" in str(rel.doc.get("notes", type=Text)))
            ref.type_into("notes", "écrit sur le processus 2")
            await prod.wait(lambda: "processus 2" in str(prod.doc.get("notes", type=Text)))
            await prod.wait(prod.saved, what="the producteur's edit saved")
            await ref.wait(ref.saved, what="the référent's edit saved")
            text = str(prod.doc.get("notes", type=Text))
            assert str(ref.doc.get("notes", type=Text)) == text
            assert str(rel.doc.get("notes", type=Text)) == text

            await prod.set_presence({"cursor": None})
            await rel.wait(
                lambda: w.producteur.name in presence_names(rel), what="presence across processes"
            )

            # Rights changed through process 2 reach a connection held by process 1.
            await asyncio.to_thread(unassign_all, cluster, two)
            await prod.wait(lambda: prod.denied == ["lecture seule"], what="read-only notice")
        with cluster.db.session() as session:
            stored = documents.load(session, w.sections[0].doc_name)
        assert str(stored.get("notes", type=Text)) == text

    run(scenario())


def unassign_all(cluster: Cluster, node: Node) -> None:
    import re

    import httpx

    from ..app.factories import PASSWORD

    with httpx.Client(base_url=f"http://127.0.0.1:{node.port}") as client:
        client.post("/login", data={"email": cluster.w.referent.email, "password": PASSWORD})
        page = client.get("/dossiers").text
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
        assert token
        response = client.post(
            f"/dossiers/{cluster.w.dossier.id}/attributions",
            data={"csrf_token": token.group(1)},
            headers={"Origin": f"http://127.0.0.1:{node.port}"},
        )
        assert response.status_code == 303, response.text


def test_a_process_killed_mid_typing_loses_nothing_acknowledged(cluster: Cluster) -> None:
    one, two = cluster.nodes
    w = cluster.w
    acked: dict[int, int] = {}

    async def scenario() -> None:
        on_one = [cluster.client(one, e) for e in (w.producteur.email, w.referent.email)]
        on_two = [cluster.client(two, w.referent.email)]
        watcher = cluster.client(two, w.relecteur.email)
        for client in [*on_one, *on_two, watcher]:
            await client.__aenter__()
            await asyncio.wait_for(client.synced.wait(), 10)
        writers = [*on_one, *on_two]
        for n in range(300):
            for i, client in enumerate(writers):
                client.type_into(f"frappe-{i}", str(n % 10))
            await asyncio.sleep(0.003)
            if n == 200:  # mid-typing: what process 1's clients were told is saved
                for client in on_one:
                    acked[client.doc.client_id] = client.durable.get(client.doc.client_id, 0)
                os.kill(one.process.pid, signal.SIGKILL)
                break
        for client in on_one:  # their server is gone
            with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
                await client.__aexit__(None, None, None)
        # Before anyone reconnects (a reconnecting client re-sends what it has, which would
        # hide a lost update): what process 1 acknowledged is in the database already.
        assert all(clock > 0 for clock in acked.values()), acked
        assert_stored(acked)
        # They reconnect to process 2 with what they have, and everyone converges.
        emails = (w.producteur.email, w.referent.email)
        moved = [cluster.client(two, e, c.doc) for e, c in zip(emails, on_one, strict=True)]
        for client in moved:
            await client.__aenter__()
            await asyncio.wait_for(client.synced.wait(), 10)
        everyone = [*moved, *on_two, watcher]
        for client in everyone:
            await client.wait(
                lambda c=client: all(
                    clocks(c.doc).get(k, 0) >= v for k, v in final(everyone).items()
                ),
                timeout=15,
                what="convergence after the kill",
            )
        for client in [*moved, *on_two]:
            await client.wait(client.saved, timeout=15, what="every edit saved")
        for client in everyone:
            await client.__aexit__(None, None, None)

    def final(clients: list[YClient]) -> dict[int, int]:
        merged: dict[int, int] = {}
        for c in clients:
            for k, v in clocks(c.doc).items():
                merged[k] = max(merged.get(k, 0), v)
        return merged

    def assert_stored(acked: dict[int, int]) -> None:
        with cluster.db.session() as session:
            stored = clocks(documents.load(session, w.sections[0].doc_name))
        for client_id, clock in acked.items():
            assert stored.get(client_id, 0) >= clock, (client_id, clock, stored)

    run(scenario())
    assert_stored(acked)  # and still there once everyone resynced through process 2


def test_a_comment_made_through_one_process_reaches_pages_on_the_other(cluster: Cluster) -> None:
    """The comment feed (server-sent events) crosses processes through the bus."""
    import re
    import threading

    import httpx

    from ..app.factories import PASSWORD

    one, two = cluster.nodes
    w, section = cluster.w, cluster.w.sections[0].id
    events: list[str] = []
    listening = threading.Event()

    def follow() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{two.port}", timeout=20) as client:
            client.post("/login", data={"email": w.relecteur.email, "password": PASSWORD})
            with client.stream("GET", f"/sections/{section}/commentaires/flux") as stream:
                listening.set()
                for line in stream.iter_lines():
                    if line.startswith("event:"):  # first the page's version (« etat »)
                        events.append(line)
                        if line == "event: commentaires":
                            return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert listening.wait(10)
    time.sleep(0.3)  # the stream is open and subscribed
    with httpx.Client(base_url=f"http://127.0.0.1:{one.port}") as client:
        client.post("/login", data={"email": w.referent.email, "password": PASSWORD})
        page = client.get(f"/sections/{section}").text
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
        assert token
        response = client.post(
            f"/sections/{section}/commentaires",
            data={
                "csrf_token": token.group(1),
                "question": "gouvernance.strategie",
                "body": "Une remarque faite sur le processus 1.",
            },
            headers={"Origin": one.origin},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
    reader.join(15)
    assert events[-1:] == ["event: commentaires"], events
