"""`arobase echeances` run from cron locks overdue brouillons and, through Redis, the serving
processes turn their open editing connections read-only at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from app.db import Database
from app.models import Dossier, DossierState
from collab.bus import CONTROL, Envelope, Kind, RedisBus, bus_prefix

from ..app.factories import world
from ..conftest import make_settings
from ..live import free_port, serve
from .test_workflow_live import round_trip
from .yclient import YClient, run

BIN = Path(sys.executable).parent / "arobase"
REDIS = "redis://127.0.0.1:6379/0"
AFTER_THE_DEADLINE = "2029-11-16"  # tests/app/data/mini.yaml's deadline is 2029-11-15


def echeances(database_url: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AROBASE_DATABASE_URL": database_url, "AROBASE_REDIS_URL": redis_url}
    return subprocess.run(
        [str(BIN), "echeances", "--date", AFTER_THE_DEADLINE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_lock_from_cron_turns_open_connections_read_only(sqlite_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The app's own deadline round runs every 5 minutes and, today, finds nothing overdue: what
    # this test sees within seconds can only come through the bus.
    settings = make_settings(sqlite_url, base_url=url, redis_url=REDIS)
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    section = f"ws://127.0.0.1:{port}/collab/section-{w.sections[0].id}"

    async def scenario(cookies: tuple[str, str]) -> None:
        async with (
            YClient(section, cookies[0], url) as prod,
            YClient(section, cookies[1], url) as ref,
        ):
            await asyncio.wait_for(prod.synced.wait(), 10)
            await asyncio.wait_for(ref.synced.wait(), 10)
            prod.set_answer("gouvernance.budget", 1.0)
            await prod.wait(prod.saved, what="the first answer saved")
            done = await asyncio.to_thread(echeances, sqlite_url, REDIS)
            assert done.returncode == 0, done.stderr
            assert "1 dossier(s) verrouillé(s)" in done.stdout
            await prod.wait(lambda: prod.denied == ["lecture seule"], what="read-only notice")
            await ref.wait(lambda: ref.denied == ["lecture seule"], what="read-only notice")
            prod.set_answer("gouvernance.budget", 2.0)
            await asyncio.sleep(0)
            await round_trip(prod)
            await round_trip(ref)
            assert ref.answers()["gouvernance.budget"] == 1.0
            assert prod.closed is None and ref.closed is None  # they still read

    with serve(settings, port):
        from .conftest import Live

        live = Live(url, f"ws://127.0.0.1:{port}", settings, database, w)
        run(scenario((live.cookie(w.producteur.email), live.cookie(w.referent.email))))
    with database.session() as session:
        dossier = session.get(Dossier, w.dossier.id)
        assert dossier is not None and dossier.etat == DossierState.verrouille
    database.dispose()


def test_the_re_check_goes_out_only_when_something_was_locked(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        world(session)
    database.dispose()
    client = redis.Redis.from_url(REDIS)
    listener = client.pubsub()
    prefix = bus_prefix(sqlite_url)
    listener.subscribe(RedisBus(REDIS, prefix)._channel(CONTROL))
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    try:
        first = echeances(sqlite_url, REDIS)
        assert first.returncode == 0 and "1 dossier(s) verrouillé(s)" in first.stdout
        message = listener.get_message(timeout=5)
        assert message is not None and message["type"] == "message"
        assert Envelope.decode(message["data"]).kind == Kind.RECHECK
        second = echeances(sqlite_url, REDIS)  # nothing left to lock: nobody to disturb
        assert second.returncode == 0 and "0 dossier(s) verrouillé(s)" in second.stdout
        assert listener.get_message(timeout=1) is None
    finally:
        listener.close()
        client.close()


@pytest.mark.parametrize("redis_url", ["redis://127.0.0.1:1/0"])
def test_without_redis_the_lock_still_happens_and_says_when_editors_will_follow(
    sqlite_url: str, redis_url: str
) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        dossier_id = world(session).dossier.id
    done = echeances(sqlite_url, redis_url)
    assert done.returncode == 0
    assert "1 dossier(s) verrouillé(s)" in done.stdout
    assert "Redis injoignable" in done.stderr
    with database.session() as session:
        dossier = session.get(Dossier, dossier_id)
        assert dossier is not None and dossier.etat == DossierState.verrouille
    database.dispose()
