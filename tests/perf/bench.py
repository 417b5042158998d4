"""`make bench`: our collab server and the reference y-websocket server, side by side, one run.

Runs ../shared/bench/ycollab_bench.py on the same scenarios against `arobase serve` (SQLite,
rights checked, every update persisted with a group commit) and against the node reference
(@y/websocket-server, which keeps nothing), restarting each server for every measurement so
its CPU seconds and peak memory belong to that scenario alone, interleaved and repeated.
Prints a table of figures and of ratios ours / reference. Only loopback is used.

    python tests/perf/bench.py [--repeats 2] [--scenarios S1,S2,S3,S4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AROBASE_SHARED", ROOT.parent / "shared"))
HARNESS = SHARED / "bench" / "ycollab_bench.py"
# The harness installs its peers there (../shared/bench/peers/install.sh), never in the repo.
VENV = Path(os.environ.get("YBENCH_VENV", "/tmp/ybench-venv"))  # noqa: S108
NODE_DIR = Path(os.environ.get("YBENCH_NODE_DIR", "/tmp/ybench-node"))  # noqa: S108
SCENARIOS = {
    "S1": "--rooms 1 --clients-per-room 20 --edits-per-client 100 --edit-interval-ms 50",
    "S2": "--rooms 1 --clients-per-room 100 --edits-per-client 15 --edit-interval-ms 1000",
    "S3": "--rooms 50 --clients-per-room 4 --edits-per-client 50 --edit-interval-ms 200",
    "S4": "--rooms 1 --clients-per-room 200 --edits-per-client 0 --preload-kb 300 "
    "--initial-apply deferred",
}
PEOPLE = 50  # bench accounts, each référent of every dossier (20 connections each at most)
DOSSIERS = 5  # 12 sections each: enough rooms for S3
SECRET = "b" * 40  # the servers' AROBASE_SECRET_KEY


def prepare(workdir: Path) -> tuple[Path, list[str], list[str]]:
    """A migrated SQLite database with dossiers and people; (file, section names, tokens)."""
    path = workdir / "bench.db"
    names, tokens = populate(f"sqlite:///{path}")
    return path, names, tokens


def populate(
    url: str, people_count: int = PEOPLE, dossier_count: int = DOSSIERS
) -> tuple[list[str], list[str]]:
    """Migrate the database at `url` and add dossiers (their sections are the rooms) and people,
    each référent of every dossier; (section names, one session token per person)."""
    sys.path.insert(0, str(ROOT))
    from sqlmodel import col, select

    from app import db
    from app.auth import sessions
    from app.models import Collectivite, CollectiviteKind, Role, Section
    from app.services import accounts, dossier_setup, members, questionnaires
    from app.settings import Settings

    db.upgrade(url)
    database = db.Database(url)
    settings = Settings.from_env(
        {}, database_url=url, secret_key=SECRET, session_max_age=86400, session_idle_timeout=86400
    )
    tokens = []
    with database.session() as session:
        campagne = questionnaires.import_file(session, questionnaires.SHIPPED).campagne
        # Far from its deadline: the server locks drafts past it (and reminds before it).
        campagne.date_limite = date.today() + timedelta(days=365)
        session.add(campagne)
        people = [
            accounts.create_user(session, f"bench{i}@exemple.fr", f"Bench {i}")
            for i in range(people_count)
        ]
        for d in range(dossier_count):
            commune = Collectivite(
                nom=f"Banc {d}",
                code_insee=f"9{d:04d}",
                kind=CollectiviteKind.commune,
                population=9000,
            )
            session.add(commune)
            session.flush()
            dossier = dossier_setup.create_dossier(session, commune, campagne)
            for person in people:
                members.join(session, dossier, person, Role.referent)
        tokens = [sessions.open_session(session, settings, p) for p in people]
        names = [f"section-{s}" for s in session.exec(select(Section.id).order_by(col(Section.id)))]
    database.dispose()
    return names, tokens


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


def start(
    peer: str, port: int, log: Path, database_url: str = "", redis_url: str = ""
) -> subprocess.Popen[bytes]:
    """`arobase serve` on `database_url` (and the bus at `redis_url`, if any), or the node
    reference, on `port`; returns once it answers."""
    out = log.open("wb")
    if peer == "ours":
        env = {
            **os.environ,
            "AROBASE_DATABASE_URL": database_url,
            "AROBASE_REDIS_URL": redis_url,
            "AROBASE_SECRET_KEY": SECRET,
            "AROBASE_BASE_URL": f"http://127.0.0.1:{port}",
            "AROBASE_LOG_LEVEL": "warning",
        }
        command = [str(Path(sys.executable).parent / "arobase"), "serve", "--port", str(port)]
    else:
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
        command = ["node", str(NODE_DIR / "node_modules/@y/websocket-server/src/server.js")]
    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, process)
    except BaseException:  # it never answered, or the run is being stopped: leave nothing
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def measure(
    peer: str,
    scenario: str,
    port: int,
    template: Path,
    names: list[str],
    tokens_file: Path,
    out: Path,
) -> dict[str, Any]:
    db_file = out / f"{scenario}-{peer}-{port}.db"
    shutil.copy(template, db_file)
    process = start(peer, port, out / f"{scenario}-{peer}-{port}.log", f"sqlite:///{db_file}")
    result_file = out / f"{scenario}-{peer}-{port}.json"
    args = [
        str(VENV / "bin/python"),
        str(HARNESS),
        *SCENARIOS[scenario].split(),
        "--label",
        peer,
        "--server-pid",
        str(process.pid),
        "--json",
        str(result_file),
    ]
    args += target(peer, port, names, tokens_file)
    try:
        subprocess.run(
            args,
            timeout=300,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=(out / f"{scenario}-{peer}-{port}.txt").open("wb"),
        )
    finally:
        stop(process)
    return json.loads(result_file.read_text()) if result_file.exists() else {}


def target(peer: str, port: int, names: list[str], tokens_file: Path) -> list[str]:
    """The harness options that point it at `peer` on `port`: our rooms are sections, opened
    with a session cookie and our Origin; the reference's are any name."""
    if peer != "ours":
        return ["--url-template", f"ws://127.0.0.1:{port}/{{room}}"]
    return [
        "--url-template",
        f"ws://127.0.0.1:{port}/collab/{{room}}",
        "--room-names",
        ",".join(names),
        "--header",
        f"Origin: http://127.0.0.1:{port}",
        "--client-header",
        "Cookie: arobase_session={token}",
        "--tokens-file",
        str(tokens_file),
    ]


def figures(result: dict[str, Any]) -> dict[str, float | None]:
    edit = result.get("edit", {})
    latency = edit.get("latency_ms", {}) if edit else {}
    server = result.get("server", {})
    sync = result.get("connect", {}).get("sync_ms", {})
    return {
        "p50": latency.get("p50"),
        "p99": latency.get("p99"),
        "join_p50": sync.get("p50"),
        "updates_s": edit.get("deliveries_per_s") if edit else None,
        "cpu_s": server.get("cpu_s"),
        "rss_mb": server.get("peak_rss_mb"),
        "ok": bool(result.get("convergence", {}).get("ok"))
        and not result.get("errors", {}).get("total"),
        "saturated": bool(result.get("saturated")),
    }


HIGHER_IS_BETTER = {"updates_s"}


def best(runs: list[dict[str, float | None]], key: str) -> float | None:
    values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
    if not values:
        return None
    return max(values) if key in HIGHER_IS_BETTER else min(values)  # type: ignore[type-var]


def table(results: dict[str, dict[str, list[dict[str, float | None]]]]) -> str:
    lines = [
        "| scenario | figure | ours | reference (node) | ours / reference |",
        "|---|---|---|---|---|",
    ]
    for scenario, peers in results.items():
        for key, label in (
            ("p50", "latency p50 ms"),
            ("p99", "latency p99 ms"),
            ("join_p50", "join p50 ms"),
            ("updates_s", "updates delivered/s"),
            ("cpu_s", "server CPU s"),
            ("rss_mb", "peak RSS MB"),
        ):
            ours, ref = best(peers.get("ours", []), key), best(peers.get("node", []), key)
            if ours is None and ref is None:
                continue
            ratio = f"{ours / ref:.2f}" if ours is not None and ref else "—"
            lines.append(f"| {scenario} | {label} | {ours} | {ref} | {ratio} |")
        flags = [
            f"{peer}: {'ok' if all(r['ok'] for r in runs) else 'ERRORS'}"
            f"{' (generator saturated)' if any(r['saturated'] for r in runs) else ''}"
            for peer, runs in peers.items()
        ]
        lines.append(f"| {scenario} | checks | {'; '.join(flags)} | | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    if not HARNESS.exists():
        print(f"the load harness is missing: {HARNESS} (set AROBASE_SHARED)", file=sys.stderr)
        return 2
    subprocess.run(
        ["bash", str(SHARED / "bench/peers/install.sh")], check=True, stdout=subprocess.DEVNULL
    )
    out = Path(tempfile.mkdtemp(prefix="arobase-bench-"))
    template, names, tokens = prepare(out)
    tokens_file = out / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    results: dict[str, dict[str, list[dict[str, float | None]]]] = {}
    port = 23400
    for _ in range(args.repeats):
        for scenario in args.scenarios.split(","):
            for peer in ("ours", "node"):
                port += 1
                print(f">> {scenario} {peer} (port {port})", file=sys.stderr)
                result = measure(peer, scenario, port, template, names, tokens_file, out)
                results.setdefault(scenario, {}).setdefault(peer, []).append(figures(result))
    report = table(results)
    print(report)
    (out / "table.md").write_text(report + "\n")
    print(f"raw results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
