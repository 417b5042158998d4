"""Operations: /metrics, /readyz, JSON logs, `serve --workers` refusal and `db backup`, each
against real servers (uvicorn, `arobase serve` subprocesses, Redis, PostgreSQL, SQLite)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from pycrdt import Text
from starlette.testclient import TestClient

from app.db import Database
from app.logs import JsonFormatter
from app.main import create_app
from app.services import documents
from app.settings import Settings

from ..collab.yclient import YClient, run
from ..conftest import SECRET, make_settings
from ..live import free_port, serve
from .factories import PASSWORD, World, world

BIN = Path(sys.executable).parent / "arobase"
REDIS_URL = os.environ.get("AROBASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


# A real `arobase serve` ------------------------------------------------------------------------
@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cookie(self, email: str) -> str:
        with httpx.Client(base_url=self.url) as client:
            response = client.post("/login", data={"email": email, "password": PASSWORD})
            assert response.status_code == 303, response.text
            return f"arobase_session={client.cookies['arobase_session']}"

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit status once it has stopped."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def serve_env(database_url: str, port: int, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AROBASE_")}
    return {
        **env,
        "AROBASE_DATABASE_URL": database_url,
        "AROBASE_SECRET_KEY": SECRET,
        "AROBASE_BASE_URL": f"http://127.0.0.1:{port}",
        **{f"AROBASE_{k.upper()}": v for k, v in settings.items()},
    }


@contextmanager
def arobase_serve(database_url: str, log: Path, *args: str, **settings: str) -> Iterator[Served]:
    """`arobase serve` in a subprocess, its logs (stderr) in `log`; ready once /healthz answers."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), *args],
            env=serve_env(database_url, port, **settings),
            stdout=out,
            stderr=out,
        )
    served = Served(process, port, log)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            process.wait(timeout=10)
            raise RuntimeError(f"arobase serve did not start:\n{log.read_text()}")
        time.sleep(0.05)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


# The Prometheus text format, checked strictly ------------------------------------------------
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(body: str) -> Samples:
    """Every line is a HELP, a TYPE or a sample of the family declared just before; histograms
    are cumulative and end with +Inf = count."""
    assert body.endswith("\n")
    samples: Samples = {}
    families: dict[str, str] = {}
    family = ""
    for line in body.splitlines():
        if line.startswith("# HELP "):
            family = line.split(" ")[2]
            assert family not in families, f"{family} declared twice"
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == family and kind in ("counter", "gauge", "histogram"), line
            families[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample: {line!r}"
        name, labels, value = match.groups()
        suffixes = ("_bucket", "_sum", "_count") if families[family] == "histogram" else ("",)
        assert any(name == family + suffix for suffix in suffixes), (family, line)
        pairs = frozenset(LABEL.findall(labels or ""))
        assert (name, pairs) not in samples, f"duplicate sample {line!r}"
        samples[(name, pairs)] = float(value)
    for name, kind in families.items():
        if kind == "histogram":
            buckets = sorted(
                (float(dict(labels)["le"]), value)
                for (sample, labels), value in samples.items()
                if sample == f"{name}_bucket"
            )
            counts = [value for _, value in buckets]
            assert counts == sorted(counts) and buckets[-1][0] == math.inf, buckets
            assert buckets[-1][1] == samples[(f"{name}_count", frozenset())]
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


REQUIRED = [
    "arobase_rooms_open",
    "arobase_updates_stored_total",
    "arobase_flushes_total",
    "arobase_failed_flushes_total",
    "arobase_rejected_writes_total",
    "arobase_commit_seconds_count",
    "arobase_relay_seconds_count",
]


def test_metrics_are_well_formed_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_exposition(response.text)
    for name in REQUIRED:
        assert value(samples, name) == 0
    assert value(samples, "arobase_connections", permission="write") == 0
    assert value(samples, "arobase_connections", permission="read") == 0
    assert value(samples, "arobase_websocket_refusals_total", code="4403") == 0
    assert value(samples, "arobase_relay_seconds_bucket", le="+Inf") == 0


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "asgi"])
def test_metrics_follow_live_editing(sqlite_url: str, direct: bool) -> None:
    """Connections by permission, open rooms, refusals by code, stored updates and relay times,
    on a real server with real websocket clients, on both serving paths."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(sqlite_url, base_url=base)
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    url = f"ws://127.0.0.1:{port}/collab/{w.sections[0].doc_name}"

    async def scrape() -> Samples:
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.get("/metrics")
        assert response.status_code == 200
        return parse_exposition(response.text)

    async def refused(headers: dict[str, str], origin: str) -> None:
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url, additional_headers=headers, origin=origin):
                pass

    async def scenario(writer_cookie: str, reader_cookie: str) -> None:
        async with YClient(url, writer_cookie, base) as writer, YClient(url, reader_cookie, base):
            await writer.wait(writer.synced.is_set, what="sync")
            for n in range(20):
                writer.type_into("frappe", str(n % 10))
            await writer.wait(lambda: writer.own_clock() > 0 and writer.saved(), what="ack")
            await refused({"Cookie": writer_cookie}, "http://ailleurs.example")  # 4403
            await refused({}, base)  # no session: 4401
            samples = await scrape()
            assert value(samples, "arobase_rooms_open") == 1
            assert value(samples, "arobase_connections", permission="write") == 1
            assert value(samples, "arobase_connections", permission="read") == 1
            assert value(samples, "arobase_websocket_refusals_total", code="4403") == 1
            assert value(samples, "arobase_websocket_refusals_total", code="4401") == 1
            assert value(samples, "arobase_updates_stored_total") >= 1
            assert value(samples, "arobase_commit_seconds_count") >= 1  # each group commit timed
            assert value(samples, "arobase_flushes_total") >= 1
            assert value(samples, "arobase_relay_seconds_count") >= 2  # sync step 1, updates…
            assert value(samples, "arobase_relay_seconds_sum") > 0
        deadline = time.monotonic() + 10
        while value(samples := await scrape(), "arobase_rooms_open") != 0:
            assert time.monotonic() < deadline, "the room was not unloaded"
            await asyncio.sleep(0.02)
        assert value(samples, "arobase_connections", permission="write") == 0

    with serve(settings, port, direct=direct):
        run(scenario(_login(base, w.producteur.email), _login(base, w.relecteur.email)))
    database.dispose()


def _login(base: str, email: str) -> str:
    with httpx.Client(base_url=base) as http:
        response = http.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 303
        return f"arobase_session={http.cookies['arobase_session']}"


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer mauvais-jeton", 401),
        ("Basic bWV0cmljczpqZXRvbg==", 401),
        ("Bearer le-bon-jeton-de-supervision", 200),
        ("bearer le-bon-jeton-de-supervision", 200),
    ],
)
def test_metrics_token(sqlite_url: str, authorization: str | None, status: int) -> None:
    settings = make_settings(sqlite_url, metrics_token="le-bon-jeton-de-supervision")
    headers = {"Authorization": authorization} if authorization else {}
    with TestClient(create_app(settings)) as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "arobase_" not in response.text
    else:
        parse_exposition(response.text)


# /readyz ---------------------------------------------------------------------------------------
@contextmanager
def silent_server() -> Iterator[socket.socket]:
    """A port that accepts connections (the kernel's backlog) and never answers; closing it
    resets them, which ends a check left waiting on it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener


def ready(settings: Settings, silent: socket.socket | None = None) -> tuple[int, str, float]:
    with TestClient(create_app(settings)) as client:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
        assert client.get("/healthz").text == "ok"  # liveness depends on nothing
        if silent is not None:
            silent.close()  # before the app stops: its abandoned check thread ends now
    return response.status_code, response.text, elapsed


def test_ready_when_sqlite_and_redis_answer(sqlite_url: str) -> None:
    assert ready(make_settings(sqlite_url))[:2] == (200, "prêt\n")
    assert ready(make_settings(sqlite_url, redis_url=REDIS_URL))[:2] == (200, "prêt\n")


@pytest.mark.postgres
def test_ready_on_postgresql(postgres_url: str) -> None:
    assert ready(make_settings(postgres_url, redis_url=REDIS_URL))[:2] == (200, "prêt\n")


def test_not_ready_when_redis_refuses(sqlite_url: str) -> None:
    status, body, _ = ready(make_settings(sqlite_url, redis_url=f"redis://127.0.0.1:{free_port()}"))
    assert status == 503
    assert body.splitlines() == [
        "pas prêt",
        "base de données : ok",
        "redis : échec (ConnectionError)",
    ]


def test_not_ready_when_redis_hangs(sqlite_url: str) -> None:
    with silent_server() as silent:
        port = silent.getsockname()[1]
        status, body, elapsed = ready(
            make_settings(sqlite_url, redis_url=f"redis://127.0.0.1:{port}"), silent
        )
    assert status == 503 and "redis : échec (TimeoutError)" in body
    assert elapsed < 4


def test_not_ready_when_the_database_refuses() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/arobase"
    status, body, _ = ready(make_settings(url))
    assert status == 503
    assert body.splitlines() == ["pas prêt", "base de données : échec (OperationalError)"]


def test_not_ready_when_the_database_hangs() -> None:
    with silent_server() as silent:
        port = silent.getsockname()[1]
        status, body, elapsed = ready(
            make_settings(f"postgresql://postgres@127.0.0.1:{port}/x"), silent
        )
    assert status == 503
    assert "base de données : pas de réponse en 2 s" in body
    assert elapsed < 4


# Logs ------------------------------------------------------------------------------------------
def test_json_formatter_keeps_extra_fields_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("arobase.test_ops")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("section %s : %d mises à jour", "s-1", 3, extra={"room": "section-1"})
        try:
            raise ValueError("cassé")
        except ValueError:
            logger.exception("échec")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "arobase.test_ops"
    assert first["message"] == "section s-1 : 3 mises à jour"
    assert first["room"] == "section-1"
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert second["message"] == "échec" and "ValueError: cassé" in second["exception"]


def test_serve_logs_one_json_object_per_line(sqlite_url: str, tmp_path: Path) -> None:
    with arobase_serve(sqlite_url, tmp_path / "serve.log", log_format="json") as served:
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        served.stop()
    entries = [json.loads(line) for line in served.log.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    assert any(e["message"] == "Application startup complete." for e in entries)
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert {"method": "GET", "path": "/healthz", "status": 200}.items() <= access[-1].items()
    assert any(e["message"] == "Application shutdown complete." for e in entries)


def test_serve_logs_text_through_the_same_handler(sqlite_url: str, tmp_path: Path) -> None:
    with arobase_serve(sqlite_url, tmp_path / "serve.log") as served:
        httpx.get(f"{served.url}/healthz")
        served.stop()
    lines = served.log.read_text().splitlines()
    assert "INFO uvicorn.error Application startup complete." in lines
    assert any(
        line.startswith("INFO uvicorn.access ") and '"GET /healthz HTTP/1.1" 200' in line
        for line in lines
    )


def test_unknown_log_format_stops_the_start(sqlite_url: str) -> None:
    result = subprocess.run(
        [str(BIN), "serve", "--port", str(free_port())],
        env=serve_env(sqlite_url, 8000, log_format="xml"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "AROBASE_LOG_FORMAT must be text or json" in result.stderr


# Several workers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"redis_url": REDIS_URL},
        {"database_url": "postgresql://arobase@db.invalid/arobase"},
    ],
    ids=["sqlite", "sqlite+redis", "postgresql-without-redis"],
)
def test_several_workers_need_redis_and_a_shared_database(
    sqlite_url: str, settings: dict[str, str]
) -> None:
    env = serve_env(sqlite_url, 8000)
    env.update({f"AROBASE_{k.upper()}": v for k, v in settings.items()})
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN), "serve", "--port", str(free_port()), "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "--workers 2 demande AROBASE_REDIS_URL" in result.stderr
    assert "error: --workers 2 needs AROBASE_REDIS_URL" in result.stderr
    assert time.monotonic() - started < 30  # refused before anything starts


@pytest.mark.postgres
def test_several_workers_on_postgresql_and_redis(postgres_url: str, tmp_path: Path) -> None:
    with arobase_serve(
        postgres_url, tmp_path / "serve.log", "--workers", "2", redis_url=REDIS_URL
    ) as served:
        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2:  # both workers answer (connections land on either)
            with httpx.Client(base_url=served.url) as http:
                assert http.get("/readyz").text == "prêt\n"
            pids |= _worker_pids(served.log)
            assert time.monotonic() < deadline, pids
        status = served.stop()
    assert status in (0, -signal.SIGTERM), served.log.read_text()
    assert "Finished server process" in served.log.read_text()


def _worker_pids(log: Path) -> set[str]:
    return set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))


# Backups ---------------------------------------------------------------------------------------
def arobase(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        env=serve_env(database_url, 8000),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_backup_of_a_running_sqlite_server(sqlite_url: str, tmp_path: Path) -> None:
    """Taken while the server runs (WAL mode, updates not yet checkpointed into the main file):
    the copy holds every acknowledged update and passes SQLite's integrity check."""
    database = Database(sqlite_url)
    with database.session() as session:
        w: World = world(session)
    section = w.sections[0]
    target = tmp_path / "sauvegarde.db"
    with arobase_serve(sqlite_url, tmp_path / "serve.log") as served:
        base = served.url
        url = f"ws://127.0.0.1:{served.port}/collab/{section.doc_name}"

        async def typing() -> None:
            async with YClient(url, served.cookie(w.producteur.email), base) as writer:
                await writer.wait(writer.synced.is_set, what="sync")
                writer.type_into("frappe", "sauvegardé en marche")
                await writer.wait(writer.saved, what="ack")
                result = arobase(sqlite_url, "db", "backup", str(target))
                assert result.returncode == 0, result.stderr
                assert "Sauvegarde écrite" in result.stdout

        run(typing())
        again = arobase(sqlite_url, "db", "backup", str(target))
        assert again.returncode == 1 and "existe déjà" in again.stderr
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copy.close()
    restored = Database(f"sqlite:///{target}")
    with restored.session() as session:
        doc = documents.load(session, section.doc_name)
        assert str(doc.get("frappe", type=Text)) == "sauvegardé en marche"
    restored.dispose()
    database.dispose()
    assert not list(tmp_path.glob(".*partiel"))


def test_backup_needs_a_file_and_sqlite(sqlite_url: str) -> None:
    missing = arobase(sqlite_url, "db", "backup")
    assert missing.returncode == 2 and "arobase db backup FICHIER" in missing.stderr
    postgres = arobase("postgresql://arobase@db.invalid/arobase", "db", "backup", "x.dump")
    assert postgres.returncode == 2 and "pg_dump" in postgres.stderr
