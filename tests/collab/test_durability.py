"""Kill the server with SIGKILL mid-typing: every acknowledged update is there after restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from websockets import ConnectionClosed

from app.db import Database
from collab import protocol

from ..app.factories import PASSWORD, world
from ..conftest import SECRET
from ..live import free_port
from .yclient import YClient, run

AROBASE = Path(sys.executable).parent / "arobase"


@contextmanager
def server_process(
    database_url: str, port: int, **extra_env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`arobase serve` as a process of its own (AROBASE_* settings in `extra_env`)."""
    env = {
        **os.environ,
        "AROBASE_DATABASE_URL": database_url,
        "AROBASE_SECRET_KEY": SECRET,
        "AROBASE_BASE_URL": f"http://127.0.0.1:{port}",
        "AROBASE_LOG_LEVEL": "warning",
        **extra_env,
    }
    # AROBASE_TEST_SERVER_LOG=file keeps the servers' output, for debugging a failure.
    log_path = os.environ.get("AROBASE_TEST_SERVER_LOG")
    output = Path(log_path).open("ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(AROBASE), "serve", "--port", str(port)],
        env=env,
        stdout=output,
        stderr=output,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("arobase serve did not start")
        time.sleep(0.05)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def cookie(port: int, email: str) -> str:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        client.post("/login", data={"email": email, "password": PASSWORD})
        return f"arobase_session={client.cookies['arobase_session']}"


def test_acknowledged_updates_survive_sigkill(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    emails = [w.referent.email, w.producteur.email]
    section = w.sections[0]
    acked: dict[int, int] = {}
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    url = f"ws://127.0.0.1:{port}/collab/{section.doc_name}"

    with server_process(sqlite_url, port) as process:
        cookies = [cookie(port, email) for email in emails]

        async def typing() -> None:
            clients = [YClient(url, c, origin) for c in cookies]
            for client in clients:
                await client.__aenter__()
                await client.synced.wait()
            for n in range(400):
                for i, client in enumerate(clients):
                    client.type_into(f"frappe-{i}", f"{n % 10}")
                await asyncio.sleep(0.002)
                if n == 250:  # mid-typing
                    for client in clients:
                        acked[client.doc.client_id] = client.durable.get(client.doc.client_id, 0)
                    os.kill(process.pid, signal.SIGKILL)
                    break
            for client in clients:  # the server is dead: closing may fail, which is fine
                with contextlib.suppress(ConnectionClosed, TimeoutError, OSError):
                    await client.__aexit__(None, None, None)

        run(typing())

    assert all(clock > 0 for clock in acked.values()), acked  # acks did arrive before the kill
    port2 = free_port()
    with server_process(sqlite_url, port2):

        async def check() -> None:
            async with YClient(
                f"ws://127.0.0.1:{port2}/collab/{section.doc_name}",
                cookie(port2, w.relecteur.email),
                f"http://127.0.0.1:{port2}",
            ) as r:
                await r.synced.wait()
                reader = protocol.Reader(r.doc.get_state())
                clocks = {}
                for _ in range(reader.var_uint()):
                    client_id, clock = reader.var_uint(), reader.var_uint()
                    clocks[client_id] = clock
                for client_id, clock in acked.items():
                    assert clocks.get(client_id, 0) >= clock, (client_id, clock, clocks)

        run(check())
    database.dispose()
