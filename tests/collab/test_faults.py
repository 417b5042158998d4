"""Faults survived by two real server processes: Redis unreachable, the database unreachable.

Each service is reached through a TCP proxy the test cuts and restores (tests/faults.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import pytest
from pycrdt import Text

from app.db import Database
from app.services import documents

from ..app.factories import world
from ..faults import Proxy, proxy
from ..live import free_port
from .test_cluster import REDIS_URL, Cluster, Node, reset_rate_limits
from .test_durability import server_process
from .yclient import run

pytestmark = pytest.mark.postgres


def via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if ":" in parts.netloc.split("@")[-1] else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


def target(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def start(stack: ExitStack, database_url: str, redis_url: str) -> Node:
    reset_rate_limits()
    port = free_port()
    process = stack.enter_context(server_process(database_url, port, AROBASE_REDIS_URL=redis_url))
    return Node(port, process)


def text_of(client: object, key: str = "notes") -> str:
    return str(client.doc.get(key, type=Text))  # type: ignore[attr-defined]


@pytest.fixture
def redis_proxy() -> Iterator[Proxy]:
    with proxy(*target(REDIS_URL, 6379)) as running:
        yield running


def test_without_redis_each_process_serves_its_own_then_all_heal(
    postgres_url: str, redis_proxy: Proxy
) -> None:
    database = Database(postgres_url)
    with database.session() as session:
        w = world(session)
    bus = via(REDIS_URL, redis_proxy.port)
    with ExitStack() as stack:
        cluster = Cluster([start(stack, postgres_url, bus) for _ in range(2)], w, database)
        one, two = cluster.nodes

        async def scenario() -> None:
            async with (
                cluster.client(one, w.producteur.email) as a1,
                cluster.client(one, w.relecteur.email) as a2,
                cluster.client(two, w.referent.email) as b1,
            ):
                for client in (a1, a2, b1):
                    await asyncio.wait_for(client.synced.wait(), 10)
                a1.type_into("notes", "avant ; ")
                await b1.wait(lambda: "avant" in text_of(b1), what="the bus working")

                redis_proxy.cut()
                a1.type_into("notes", "pendant un ; ")
                b1.type_into("notes", "pendant deux ; ")
                # Each process keeps serving its own clients, and saving.
                await a2.wait(lambda: "pendant un" in text_of(a2), what="same-process relay")
                await a1.wait(a1.saved, what="a1 saved without Redis")
                await b1.wait(b1.saved, what="b1 saved without Redis")

                redis_proxy.restore()
                for client in (a1, a2, b1):
                    await client.wait(
                        lambda c=client: (
                            "pendant un" in text_of(c) and "pendant deux" in text_of(c)
                        ),
                        timeout=30,
                        what="healing once Redis is back",
                    )
                assert text_of(a1) == text_of(a2) == text_of(b1)

        run(scenario())
        with database.session() as session:
            stored = str(documents.load(session, w.sections[0].doc_name).get("notes", type=Text))
        assert "pendant un" in stored and "pendant deux" in stored
    database.dispose()


def test_without_the_database_edits_flow_unsaved_then_are_saved(postgres_url: str) -> None:
    database = Database(postgres_url)
    with database.session() as session:
        w = world(session)
    with ExitStack() as stack:
        db_proxy = stack.enter_context(proxy(*target(postgres_url, 5432)))
        one = start(stack, via(postgres_url, db_proxy.port), REDIS_URL)
        two = start(stack, postgres_url, REDIS_URL)
        cluster = Cluster([one, two], w, database)

        async def scenario() -> None:
            async with (
                cluster.client(one, w.producteur.email) as a1,
                cluster.client(two, w.referent.email) as b1,
            ):
                for client in (a1, b1):
                    await asyncio.wait_for(client.synced.wait(), 10)
                db_proxy.cut()
                a1.type_into("notes", "écrit pendant la panne")
                await b1.wait(lambda: "pendant la panne" in text_of(b1), what="relay without DB")
                await asyncio.sleep(1.0)
                assert not a1.saved()  # no « Enregistré » while nothing is committed
                db_proxy.restore()
                await a1.wait(a1.saved, timeout=30, what="saved once the database is back")

        run(scenario())
        with database.session() as session:
            stored = str(documents.load(session, w.sections[0].doc_name).get("notes", type=Text))
        assert stored == "écrit pendant la panne"
    database.dispose()
