"""What operators and their probes ask: /metrics (Prometheus text format) and /readyz.

/healthz (pages.py) says the process is alive and depends on nothing. /readyz says it can serve:
the database answers `SELECT 1` and, when `AROBASE_REDIS_URL` is set, Redis answers PING. Each
check runs in a worker thread under a short deadline, so a dead dependency fails the probe in
seconds instead of hanging it; a thread stuck connecting is abandoned and ends with its own
timeout. Neither route needs a session: they are for machines, and /metrics takes an optional
bearer token (`AROBASE_METRICS_TOKEN`) besides what the reverse proxy restricts.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

import anyio
import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.db import Database
from collab.manager import Manager
from collab.metrics import Exposition, Metrics
from collab.room import Permission

log = logging.getLogger("arobase.ops")
CHECK_TIMEOUT = 2.0  # seconds per dependency; probes usually give up after 1–5 s
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NO_STORE = {"Cache-Control": "no-store"}


async def metrics(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token and not _bearer_matches(request.headers.get("authorization", ""), token):
        return PlainTextResponse(
            "Jeton requis : Authorization: Bearer …\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"', **NO_STORE},
        )
    text_ = exposition(request.app.state.collab, request.app.state.metrics)
    return Response(text_, media_type=CONTENT_TYPE, headers=NO_STORE)


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    # Constant-time comparison: the answer's timing must not reveal how much of a guess matched.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def exposition(manager: Manager, metrics: Metrics) -> str:
    out = Exposition()
    out.gauge("arobase_rooms_open", "Section documents open in this process.", len(manager.rooms))
    connections = {"write": 0, "read": 0}
    for _, conn in manager.connections():
        if conn.permission == Permission.WRITE:
            connections["write"] += 1
        elif conn.permission == Permission.READ:
            connections["read"] += 1
    out.labelled(
        "arobase_connections",
        "Live-editing connections in this process, by permission.",
        "gauge",
        "permission",
        connections,
    )
    stats = manager.stats
    out.counter(
        "arobase_updates_stored_total", "Updates committed to the log.", stats.updates_stored
    )
    out.counter("arobase_flushes_total", "Group commits that succeeded.", stats.flushes)
    out.counter(
        "arobase_failed_flushes_total",
        "Group commits that failed (their updates stay pending and are retried).",
        stats.failed_flushes,
    )
    out.counter(
        "arobase_rejected_writes_total",
        "Writes refused to read-only connections.",
        stats.rejected_writes,
    )
    out.labelled(
        "arobase_websocket_refusals_total",
        "Websocket handshakes refused, by close code.",
        "counter",
        "code",
        metrics.refusals.values,
    )
    out.histogram(
        "arobase_commit_seconds",
        "Duration of one group commit of pending updates.",
        metrics.commit_seconds,
    )
    out.histogram(
        "arobase_relay_seconds",
        "Time to handle one incoming websocket message (apply, relay, queue for storing).",
        metrics.relay_seconds,
    )
    return out.text()


async def ready(request: Request) -> Response:
    state = request.app.state
    checks: dict[str, Callable[[], None]] = {"base de données": lambda: _select_one(state.db)}
    if state.settings.redis_url:
        url = state.settings.redis_url
        checks["redis"] = lambda: _ping(url)
    failures: dict[str, str] = {}

    async def run(name: str, check: Callable[[], None]) -> None:
        problem = await _answers(check)
        if problem is not None:
            log.warning("readiness: %s does not answer (%s)", name, problem)
            failures[name] = problem

    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(run, name, check)
    if not failures:
        return PlainTextResponse("prêt\n", headers=NO_STORE)
    lines = [f"{name} : {failures.get(name, 'ok')}" for name in checks]
    return PlainTextResponse(
        "pas prêt\n" + "\n".join(lines) + "\n", status_code=503, headers=NO_STORE
    )


async def _answers(check: Callable[[], None]) -> str | None:
    """None when `check` returned within the deadline, else what went wrong (no details:
    /readyz is often open, and hosts or credentials in an error message are not for it)."""
    with anyio.move_on_after(CHECK_TIMEOUT):
        try:
            await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
        except (SQLAlchemyError, redis.RedisError, OSError) as exc:
            return f"échec ({type(exc).__name__})"
        return None
    return f"pas de réponse en {CHECK_TIMEOUT:g} s"


def _select_one(database: Database) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _ping(url: str) -> None:
    # Within the check's deadline, so that the thread ends by itself rather than abandoned.
    timeout = CHECK_TIMEOUT / 2
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


routes = [
    Route("/metrics", metrics, methods=["GET"], name="metrics"),
    Route("/readyz", ready, methods=["GET"], name="ready"),
]
