"""`make bench`, scale-out part: 1,000 editors in 200 sections on one process, on two, and on
the node reference, in one run.

The SCALE scenario of the scale-out issue: 5 clients per section in 200 sections, each typing
10 edits 2 s apart (modest: the load generator must not be the bottleneck on two cores), on
  (a) ours, one `arobase serve` process on PostgreSQL, without Redis (what a one-process
      deployment runs: nobody to tell);
  (b) ours, two processes sharing one PostgreSQL database and Redis; process 1 serves 3 of each
      section's 5 clients and process 2 the other 2, so every edit crosses the bus to someone;
  (c) the node reference (@y/websocket-server, keeps nothing), one process, same rooms and clients.
The generator is the same in all three: two harness instances (shared_rooms.py) started
together, one with 3 clients per section and one with 2, each talking to its own process in (b)
and both to the one server in (a) and (c): only the server side differs. Each of our runs gets
a copy of a database prepared once (bench.py's data), and every database is dropped at the end,
failures included. Server CPU comes from /proc over the whole run; peak RSS is the harness's.

Prints a table and writes it (table.md), with the raw results, to a temporary directory.

    python tests/perf/scale_bench.py [--edits 10] [--interval-ms 2000] [--scenarios a,b,c]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import bench  # the sibling script: its servers, harness location and bench data
import psycopg
import redis
from psycopg import sql

ADMIN_URL = os.environ.get(
    "AROBASE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("AROBASE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SHARED_ROOMS = Path(__file__).with_name("shared_rooms.py")
VENV_PYTHON = bench.VENV / "bin/python"  # the harness's Python
SECTIONS = 200
GROUPS = (3, 2)  # clients per section of each harness instance; in (b), of each process
CLIENTS = SECTIONS * sum(GROUPS)
PEOPLE = 100  # 10 connections each in (a), under the 20 a person may open on one process
DOSSIERS = 17  # 12 sections each: 204
RUN_TIMEOUT = 180.0  # seconds for both harness instances of one scenario, beyond the typing
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    peer: str
    processes: int


SCENARIOS = (
    Scenario("a", "(a) ours, 1 process", "ours", 1),
    Scenario("b", "(b) ours, 2 processes", "ours", 2),
    Scenario("c", "(c) node reference", "node", 1),
)


class Databases:
    """This run's databases on the PostgreSQL server, all dropped on exit."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.names: list[str] = []

    def url(self, name: str) -> str:
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"

    def create(self, template: str | None = None) -> str:
        name = f"arobase_scale_{uuid.uuid4().hex[:10]}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:  # a file-level copy: far faster than migrating and filling again
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(query)
        self.names.append(name)
        return name

    def backends(self, name: str) -> list[int]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
            return [int(pid) for (pid,) in rows]

    def __enter__(self) -> Databases:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in reversed(self.names):
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(drop.format(sql.Identifier(name)))


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def machine_cpu() -> float:
    """CPU seconds all processes of the machine have used (busy time, every core)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICK


def redis_cpu() -> float:
    """CPU seconds of the whole Redis server (shared with whatever else uses it)."""
    with redis.Redis.from_url(REDIS_URL, socket_timeout=2) as client:
        info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Setup:
    out: Path
    names: list[str]  # the sections that are the rooms
    tokens_file: Path
    edits: int
    interval_ms: int


def group_args(sc: Scenario, group: int, port: int, pids: list[int], setup: Setup) -> list[str]:
    """The command of one harness instance: its share of every section's clients."""
    target = bench.target(sc.peer, port, setup.names, setup.tokens_file)
    if sc.peer != "ours":  # the reference's rooms are any name: the same ones
        target += ["--room-names", ",".join(setup.names)]
    return [
        *(str(VENV_PYTHON), str(SHARED_ROOMS), "--harness", str(bench.HARNESS)),
        *("--instance", str(group), "--instances", str(len(GROUPS))),
        *("--id-offset", str(SECTIONS * sum(GROUPS[:group]))),
        *("--barrier-dir", str(setup.out / f"{sc.key}-barrier"), "--"),
        *("--rooms", str(SECTIONS), "--clients-per-room", str(GROUPS[group])),
        *("--edits-per-client", str(setup.edits), "--edit-interval-ms", str(setup.interval_ms)),
        *("--settle-timeout", "30", "--label", f"{sc.key}{group + 1}"),
        *("--json", str(setup.out / f"{sc.key}-group{group + 1}.json")),
        *(arg for pid in pids for arg in ("--server-pid", str(pid))),
        *target,
    ]


def run_groups(sc: Scenario, ports: list[int], pids: list[int], setup: Setup) -> list[Any]:
    """Both harness instances at once, bounded; their results (None for one that failed)."""
    (setup.out / f"{sc.key}-barrier").mkdir()
    running: list[subprocess.Popen[bytes]] = []
    timeout = RUN_TIMEOUT + setup.edits * setup.interval_ms / 1000
    with contextlib.ExitStack() as logs:
        try:
            for group in range(len(GROUPS)):
                args = group_args(sc, group, ports[group % len(ports)], pids, setup)
                log = logs.enter_context((setup.out / f"{sc.key}-group{group + 1}.txt").open("wb"))
                running.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log))
            deadline = time.monotonic() + timeout
            for process in running:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"   {sc.key}: the harness did not finish in {timeout:.0f} s", file=sys.stderr)
        finally:
            for process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
    files = [setup.out / f"{sc.key}-group{g + 1}.json" for g in range(len(GROUPS))]
    return [json.loads(f.read_text()) if f.exists() else None for f in files]


def run_scenario(sc: Scenario, dbs: Databases, template: str, setup: Setup) -> dict[str, Any]:
    with contextlib.ExitStack() as servers:
        name = dbs.create(template) if sc.peer == "ours" else ""
        redis_url = REDIS_URL if sc.processes > 1 else ""
        ports, pids = [], []
        for i in range(sc.processes):
            ports.append(free_port())
            log = setup.out / f"{sc.key}-server{i + 1}.log"
            process = bench.start(sc.peer, ports[-1], log, dbs.url(name) if name else "", redis_url)
            servers.callback(bench.stop, process)
            pids.append(process.pid)
        idle, cpu0, machine0 = rss_mb(pids), cpu_seconds(pids), machine_cpu()
        redis0 = redis_cpu() if redis_url else 0.0
        results = run_groups(sc, ports, pids, setup)
        cpu, machine = cpu_seconds(pids) - cpu0, machine_cpu() - machine0
        # Backends open at the end (the pools' steady connections), counted since they opened.
        store = cpu_seconds(dbs.backends(name)) if name else None
        if store is not None and redis_url:
            store += redis_cpu() - redis0
    generators = sum(r["gen_cpu_total_s"] for r in results if r is not None)
    others = machine - cpu - generators - (store or 0)
    figures = {"cpu_s": cpu, "store_cpu_s": store, "idle_rss_mb": idle, "others_cpu_s": others}
    return {**combine(results), **figures}


def pct(values: list[float], p: float) -> float | None:
    """The harness's percentile (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def between_groups(results: list[Any]) -> tuple[list[float], int]:
    """Latencies of the edits one group's clients received from the other's, and how many
    such deliveries were due (each edit, to every client of the other group in its section)."""
    sent: dict[int, list[float | None]] = {}
    edits: list[Counter[str]] = []
    for r in results:
        shared = r["shared"]
        sent.update((int(cid), times) for cid, times in shared["sent"].items())
        edits.append(Counter())
        for cid, room in shared["clients"].items():
            edits[-1][room] += sum(t is not None for t in shared["sent"][cid])
    latencies, due = [], 0
    for g, r in enumerate(results):
        for _receiver, sender, seq, t_recv in r["shared"]["arrivals"]:
            t_send = sent.get(sender, [None] * (seq + 1))[seq]
            if t_send is not None:
                latencies.append((t_recv - t_send) * 1000)
        for room in r["shared"]["clients"].values():
            due += sum(other[room] for h, other in enumerate(edits) if h != g)
    return latencies, due


def combine(results: list[Any]) -> dict[str, Any]:
    """One scenario's figures from its two harness instances."""
    if any(r is None for r in results):
        return {"problems": ["a harness instance failed (see its .txt)"], "saturated": []}
    between, due = between_groups(results)
    own = [x for r in results for x in r["shared"]["own_latency_ms"]]
    delivered = sum(r["edit"]["deliveries"] for r in results) + len(between)
    expected = sum(r["edit"]["deliveries_expected"] for r in results) + due
    texts: dict[str, set[str]] = {}
    for r in results:
        for room, digests in r["shared"]["texts"].items():
            texts.setdefault(room, set()).update(digests)
    problems = [
        f"group {g + 1}: {what}"
        for g, r in enumerate(results)
        for what, bad in (
            (f"{r['errors']['total']} errors {r['errors']['by_kind']}", r["errors"]["total"]),
            (f"convergence {r['convergence']}", not r["convergence"]["ok"]),
        )
        if bad
    ]
    if delivered != expected:
        problems.append(f"{expected - delivered} deliveries missing")
    if any(len(digests) != 1 for digests in texts.values()) or len(texts) != SECTIONS:
        problems.append("the two groups' texts differ")
    return {
        "p50": pct(own + between, 50),
        "p99": pct(own + between, 99),
        "between_p50": pct(between, 50),
        "between_p99": pct(between, 99),
        "join_p50": max(r["connect"]["sync_ms"]["p50"] or 0 for r in results),
        "delivered": delivered,
        "clients": sum(r["connect"]["ok"] for r in results),
        "rss_mb": max(r["server"]["peak_rss_mb"] for r in results),
        "problems": problems,
        "saturated": [
            f"group {g + 1}: {why}" for g, r in enumerate(results) for why in r["saturated"]
        ],
    }


def derived(f: dict[str, Any]) -> dict[str, Any]:
    if "rss_mb" not in f or not f["clients"] or not f["delivered"]:
        return f
    return {
        **f,
        "cpu_ms_per_delivery": 1000 * f["cpu_s"] / f["delivered"],
        "kb_per_connection": 1024 * f["rss_mb"] / f["clients"],
        "kb_per_connection_above_idle": 1024 * (f["rss_mb"] - f["idle_rss_mb"]) / f["clients"],
        "kb_per_section": 1024 * f["rss_mb"] / SECTIONS,
    }


ROWS = (
    ("p50", "relay latency p50 ms (all deliveries)"),
    ("p99", "relay latency p99 ms (all deliveries)"),
    ("between_p50", "latency p50 ms, group 1 ↔ group 2 ¹"),
    ("between_p99", "latency p99 ms, group 1 ↔ group 2 ¹"),
    ("join_p50", "join (connect + sync) p50 ms ²"),
    ("delivered", "updates delivered"),
    ("cpu_s", "server CPU s"),
    ("cpu_ms_per_delivery", "server CPU ms per delivered update"),
    ("store_cpu_s", "PostgreSQL + Redis CPU s ³"),
    ("others_cpu_s", "CPU s of everything else on the machine ⁴"),
    ("rss_mb", "peak RSS MB (servers' sum)"),
    ("idle_rss_mb", "RSS before the clients MB"),
    ("kb_per_connection", "RSS per connection KB (peak / clients)"),
    ("kb_per_connection_above_idle", "RSS above idle per connection KB"),
    ("kb_per_section", "RSS per open section KB (peak / sections)"),
)


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2 if abs(value) >= 1 else 3
    return f"{value:,.{digits}f}"


def ratio(top: float | None, bottom: float | None) -> str:
    return f"{top / bottom:.2f}" if top is not None and bottom else "—"


def table(figures: dict[str, dict[str, Any]], setup: Setup) -> str:
    a, b, c = (figures.get(sc.key, {}) for sc in SCENARIOS)
    lines = [
        f"| figure | {' | '.join(sc.label for sc in SCENARIOS)} | (a) / (c) | (b) / (a) |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in ROWS:
        row = [fmt(f.get(key)) for f in (a, b, c)]
        lines.append(
            f"| {label} | {' | '.join(row)} | {ratio(a.get(key), c.get(key))} "
            f"| {ratio(b.get(key), a.get(key))} |"
        )
    checks = [
        ("; ".join(f.get("problems", [])) or "ok")
        + (f" (generator saturated: {'; '.join(f['saturated'])})" if f.get("saturated") else "")
        for f in (a, b, c)
    ]
    lines.append(f"| checks | {' | '.join(checks)} | | |")
    lines += [
        "",
        f"{CLIENTS:,} clients, {sum(GROUPS)} per section in {SECTIONS} sections, each typing "
        f"{setup.edits} edits {setup.interval_ms / 1000:g} s apart; one run. Group 1 = "
        f"{GROUPS[0]} clients per section, group 2 = {GROUPS[1]}: one harness instance each.",
        "¹ Edits typed by one group's clients, timed at the other's: in (b) they cross "
        "processes through Redis; in (a) and (c) they only cross harness instances.",
        "² The larger of the two groups' medians.",
        "³ Our database's PostgreSQL backends open at the end of the run, plus in (b) the "
        "whole Redis server's CPU over the run.",
        "⁴ The machine's busy CPU time during the run, less the servers', the generators' and "
        "PostgreSQL's + Redis's: other work competing for the two cores (compare with the "
        "servers' CPU before trusting a ratio).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--edits", type=int, default=10, help="edits per client")
    parser.add_argument("--interval-ms", type=int, default=2000, help="between one's edits")
    parser.add_argument("--scenarios", default="a,b,c", help="which of a, b, c to run")
    args = parser.parse_args()
    if not bench.HARNESS.exists():
        print(f"the load harness is missing: {bench.HARNESS} (set AROBASE_SHARED)", file=sys.stderr)
        return 2
    install = ["bash", str(bench.SHARED / "bench/peers/install.sh")]
    subprocess.run(install, check=True, stdout=subprocess.DEVNULL)
    # A stopped run still stops its servers and drops its databases (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = Path(tempfile.mkdtemp(prefix="arobase-scale-"))
    figures: dict[str, dict[str, Any]] = {}
    with Databases(ADMIN_URL) as dbs:
        template = dbs.create()
        names, tokens = bench.populate(dbs.url(template), PEOPLE, DOSSIERS)
        tokens_file = out / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        setup = Setup(out, names[:SECTIONS], tokens_file, args.edits, args.interval_ms)
        for sc in (sc for sc in SCENARIOS if sc.key in args.scenarios.split(",")):
            print(f">> scale {sc.label}", file=sys.stderr)
            figures[sc.key] = derived(run_scenario(sc, dbs, template, setup))
    (out / "figures.json").write_text(json.dumps(figures, indent=1))
    report = table(figures, setup)
    print(report)
    (out / "table.md").write_text(report + "\n")
    print(f"raw results: {out}", file=sys.stderr)
    return 0 if not any(f.get("problems") for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
