"""A restart with many editors connected: they come back spread out in time and all resync.

The clients are our editor's own connection code (static/editor/src/connection.js, with its
jittered reconnection) run by node against a real `arobase serve` killed and restarted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from pycrdt import Text

from app.db import Database
from app.services import documents

from ..app.factories import world
from ..live import free_port
from .test_durability import cookie, server_process

SCRIPT = Path(__file__).resolve().parents[1] / "browser" / "storm_clients.mjs"
CLIENTS = 24


def test_a_reconnect_storm_spreads_out_and_everyone_resyncs(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with server_process(sqlite_url, port) as first:
        people = [cookie(port, e) for e in (w.referent.email, w.producteur.email)]
        cookies = [people[i % 2] for i in range(CLIENTS)]
        env = {
            **os.environ,
            "BASE": f"ws://127.0.0.1:{port}/collab",
            "ROOM": w.sections[0].doc_name,
            "COOKIES": "|".join(cookies),
            "ORIGIN": origin,
        }
        node = subprocess.Popen(
            ["node", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert node.stdout is not None
        ready = node.stdout.readline().decode().strip()
        assert ready == "READY", node.stderr.read().decode() if node.stderr else ready
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    time.sleep(0.5)  # the server is down for a moment: every client retries meanwhile
    with server_process(sqlite_url, port):
        out, err = node.communicate(timeout=60)
    assert node.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    back = sorted(result["reconnected"])
    assert len(back) == CLIENTS
    assert back[-1] - back[0] > 200, back  # jitter: not all in the same instant
    markers = {f"<{i}{step}>" for i in range(CLIENTS) for step in "ab"}
    with database.session() as session:
        stored = str(documents.load(session, w.sections[0].doc_name).get("storm", type=Text))
    assert all(m in stored for m in markers)
    assert all(m in result["text"] for m in markers)
    database.dispose()
