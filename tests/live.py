"""A real Arobase server on loopback (uvicorn in a thread), shared by collab and browser tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from app.main import create_app
from app.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    settings: Settings, port: int, *, direct: bool = True, **options: Any
) -> Iterator[uvicorn.Server]:
    """Serve like `arobase serve` (the direct collab path) or, with direct=False, on uvicorn's
    plain websocket protocol."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_max_size=4 * 1024 * 1024,
        ws="collab.transport:CollabProtocol" if direct else "websockets-sansio",
        **options,  # e.g. a shorter keepalive
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    """asyncio.run in a thread of its own: Playwright's sync API (browser tests in the same
    session) keeps an event loop running in the main thread."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    if thread.is_alive():
        raise AssertionError("the scenario did not finish within 120 s")
    if errors:
        raise errors[0]
