"""The live feed of a section's comment threads (server-sent events): the in-process publisher,
and the endpoint for real — a uvicorn server on loopback read by an httpx streaming client."""

from __future__ import annotations

import asyncio
import json
import queue
import re
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from app.db import Database
from app.models import AuditEvent, Thread, UserSession
from app.models._base import utcnow
from app.routes import comments as comment_routes
from app.services.comment_feed import FeedEvent, FeedFull, LocalFeed

from ..conftest import make_settings
from ..live import free_port, run, serve
from .comment_helpers import KEY
from .factories import PASSWORD, World, world

# --- The publisher ---------------------------------------------------------------------------


def test_events_reach_the_subscribers_of_their_section_only() -> None:
    async def scenario() -> None:
        feed = LocalFeed(max_queued=2)
        feed.publish(FeedEvent(1, None, "avant"))  # not running yet: nowhere to go
        async with feed.running():
            async with feed.subscribe(1) as one, feed.subscribe(2) as two:
                assert feed.subscribers(1) == 1
                # From another thread, as the routes do once their transaction is committed.
                sender = threading.Thread(target=feed.publish, args=(FeedEvent(1, 7, "fil"),))
                sender.start()
                sender.join()
                assert await one.next(5) == FeedEvent(1, 7, "fil")
                assert await two.next(0.05) is None
                for n in range(5):  # a reader that does not read keeps only what fits
                    feed.publish(FeedEvent(1, n, "fil"))
                await asyncio.sleep(0)
                assert [await one.next(1), await one.next(1), await one.next(0.05)] == [
                    FeedEvent(1, 0, "fil"),
                    FeedEvent(1, 1, "fil"),
                    None,
                ]
            assert feed.subscribers(1) == 0

    run(scenario())


def test_the_feed_bounds_its_subscribers() -> None:
    async def scenario() -> None:
        feed = LocalFeed(max_subscribers=1)
        async with feed.running(), feed.subscribe(1):
            with pytest.raises(FeedFull):
                async with feed.subscribe(1):
                    pass

    run(scenario())


def test_an_event_is_a_server_sent_event() -> None:
    assert FeedEvent(3, 12, "reponse").to_sse() == (
        'event: commentaires\ndata: {"fil": 12, "changement": "reponse"}\n\n'
    )


# --- The endpoint, live ----------------------------------------------------------------------


@dataclass
class Site:
    url: str
    db: Database
    w: World

    def client(self, email: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10)
        if email:
            response = client.post("/login", data={"email": email, "password": PASSWORD})
            assert response.status_code == 303, response.text
        return client

    @property
    def section(self) -> int:
        section_id = self.w.sections[0].id
        assert section_id is not None
        return section_id


@pytest.fixture
def site(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setattr(comment_routes, "STREAM_SECONDS", 4.0)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    with serve(make_settings(sqlite_url, base_url=url), port):
        yield Site(url, database, w)
    database.dispose()


class Stream:
    """Reads a feed in a thread of its own; its events wait in a queue."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self.status = 0
        self.headers: httpx.Headers | None = None
        self.retry = ""
        self.opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(client, path), daemon=True)
        self._thread.start()
        assert self.opened.wait(10), "the feed did not answer"

    def _read(self, client: httpx.Client, path: str) -> None:
        try:
            with client.stream("GET", path) as response:
                self.status, self.headers = response.status_code, response.headers
                self.opened.set()
                name, data = "message", ""
                for line in response.iter_lines():
                    if line.startswith("retry: "):
                        self.retry = line[len("retry: ") :]
                    elif line.startswith("event: "):
                        name = line[len("event: ") :]
                    elif line.startswith("data: "):
                        data = line[len("data: ") :]
                    elif line == "" and data:
                        self.events.put((name, json.loads(data)))
                        name, data = "message", ""
        finally:
            self.opened.set()
            self.events.put(None)  # the stream ended

    def next(self, timeout: float = 10) -> tuple[str, dict[str, Any]] | None:
        return self.events.get(timeout=timeout)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def form_token(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(path).text)
    assert match
    return match.group(1)


def test_the_feed_pushes_each_committed_change_to_open_pages(site: Site) -> None:
    follower = site.client(site.w.producteur.email)
    writer = site.client(site.w.relecteur.email)
    stream = Stream(follower, f"/sections/{site.section}/commentaires/flux")
    assert stream.status == 200
    assert stream.headers is not None
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-store"
    first = stream.next()
    assert first is not None and first[0] == "etat"
    assert stream.retry == "2000"
    version = first[1]["version"]

    token = form_token(writer, f"/sections/{site.section}")
    comments = f"/sections/{site.section}/commentaires"
    refused = writer.post(comments, data={"csrf_token": token, "question": KEY, "body": " "})
    assert refused.status_code == 422  # rolled back: nothing to tell
    opened = writer.post(comments, data={"csrf_token": token, "question": KEY, "body": "Vu."})
    assert opened.status_code == 303
    with site.db.session() as session:
        [thread] = session.exec(select(Thread)).all()
    assert stream.next() == ("commentaires", {"fil": thread.id, "changement": "fil"})

    # Another section's changes are not this page's business.
    other = site.w.sections[1].id
    writer.post(
        f"/sections/{other}/commentaires",
        data={"csrf_token": token, "question": "services.nom", "body": "Ailleurs."},
    )
    writer.post(f"/commentaires/fils/{thread.id}/resoudre", data={"csrf_token": token})
    # The relecteur may not resolve: refused, nothing told; the producteur may.
    follower_token = form_token(follower, f"/sections/{site.section}")
    follower.post(f"/commentaires/fils/{thread.id}/resoudre", data={"csrf_token": follower_token})
    assert stream.next() == ("commentaires", {"fil": thread.id, "changement": "resolu"})

    # Reconnecting, the page learns the version it should show: not the one it had.
    referent = site.client(site.w.referent.email)
    again = Stream(referent, f"/sections/{site.section}/commentaires/flux")
    state = again.next()
    assert state is not None and state[0] == "etat" and state[1]["version"] != version

    # A stream ends by itself (the browser reconnects): a server never waits long for it.
    assert stream.join(timeout=8) and again.join(timeout=8)
    for client in (follower, writer, referent):
        client.close()


def test_the_feed_is_for_those_who_read_the_threads(site: Site) -> None:
    path = f"/sections/{site.section}/commentaires/flux"
    with closing(site.client()) as anonymous:
        assert anonymous.get(path).status_code == 401
    with closing(site.client(site.w.outsider.email)) as outsider:
        assert outsider.get(path).status_code == 403
    with site.db.session() as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.kind == "policy.denied")).all()
    assert [(e.actor_id, e.target) for e in denied] == [(site.w.outsider.id, f"GET {path}")]


def test_following_the_feed_does_not_keep_a_session_alive(site: Site) -> None:
    """Streams reconnect every few seconds: counting that as activity would keep an open tab's
    session from ever going idle."""
    client = site.client(site.w.relecteur.email)
    earlier = utcnow() - timedelta(minutes=30)
    with site.db.session() as session:
        row = session.exec(select(UserSession)).one()
        row.last_seen_at = earlier
        session.add(row)
    stream = Stream(client, f"/sections/{site.section}/commentaires/flux")
    assert stream.next() is not None
    with site.db.session() as session:
        assert session.exec(select(UserSession)).one().last_seen_at == earlier
    assert client.get(f"/sections/{site.section}").status_code == 200  # a page does count
    with site.db.session() as session:
        assert session.exec(select(UserSession)).one().last_seen_at > earlier
    assert stream.join(timeout=8)
    client.close()
