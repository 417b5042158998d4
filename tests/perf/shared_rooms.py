"""One of several load-harness instances that share rooms (run with the harness's Python).

The scale-out scenario of `make bench` (scale_bench.py) runs two instances of
../shared/bench/ycollab_bench.py at once on the same sections, each with its share of the
clients; with two server processes, each instance talks to its own. Unchanged, two instances
would confuse each other: both number their clients from 0, so the other's edit marker `~3.0~`
reads as one of ours (counted as a delivery, with a meaningless latency), and each checks
convergence as soon as its own edits arrived, while the other may still be typing. This
wrapper changes three things and leaves the harness's measurement as it is:

- client ids start at --id-offset, so markers are unique across instances. The harness's own
  figures (latency, deliveries, missing) then count this instance's edits only; the others'
  markers are recorded apart with their arrival times. `perf_counter` is the system-wide
  monotonic clock on Linux, so scale_bench.py can time them against the other instance's sends.
- the instances start typing together (a barrier once all are connected) and check convergence
  only once every instance has settled and every client here holds every other instance's
  edits to its section (a barrier, then a bounded wait): « converged » covers the relay
  between processes. Typing starts at the barrier, so no edit counts as sent late; the wait is
  left out of the generator's CPU share before the harness's saturation check runs again.
- the JSON it writes (--json) adds `shared`: own latencies, edits sent, the other instances'
  markers received, and the digest of each section's text once converged.

    python shared_rooms.py --harness PATH --instance 0 --instances 2 --id-offset 0 \\
        --barrier-dir DIR -- <ycollab_bench options, --json included>
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

FIRST_PROBE_ID = 10_000_000 - 2  # the harness numbers its probe and preload clients from here
BARRIER_TIMEOUT = 120.0  # seconds: the slowest instance's connect phase, with room to spare


def load_harness(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("ycollab_bench", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the harness from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Barrier:
    """Instances meet through files: each writes `<name>.<instance>.json` (what it tells the
    others) and polls, with a deadline, until every instance has written its own."""

    def __init__(self, directory: Path, instance: int, parties: int) -> None:
        self.directory, self.instance, self.parties = directory, instance, parties

    async def meet(self, name: str, payload: dict[str, Any]) -> list[dict[str, Any]] | None:
        mine = self.directory / f"{name}.{self.instance}.json"
        partial = mine.with_suffix(".partial")
        partial.write_text(json.dumps(payload))
        partial.replace(mine)  # a rename: the others never read half a file
        files = [self.directory / f"{name}.{i}.json" for i in range(self.parties)]
        deadline = time.monotonic() + BARRIER_TIMEOUT
        while time.monotonic() < deadline:
            if all(f.exists() for f in files):
                return [json.loads(f.read_text()) for f in files]
            await asyncio.sleep(0.01)
        return None


def shared_classes(yb: ModuleType, opts: argparse.Namespace) -> tuple[type, type]:
    """The harness's Bench and Client, made to share their rooms with other instances."""
    now = yb.now

    class SharedClient(yb.Client):
        def __init__(self, h: Any, cid: int, room: str, *, record: bool = True) -> None:
            load = cid < FIRST_PROBE_ID
            super().__init__(h, cid + opts.id_offset if load else cid, room, record=record)
            self.foreign: dict[int, float] = {}  # other instances' markers: key -> arrival
            self.live = False
            if load:
                h.clients.append(self)

        async def open(self, timeout: float) -> bool:
            self.live = await super().open(timeout)
            return self.live

        def on_update(self, payload: bytes, t_recv: float) -> None:
            super().on_update(payload, t_recv)
            for m in yb.MARK_RE.finditer(payload):
                sender = int(m.group(1))
                if not self.h.own(sender):
                    self.foreign.setdefault(sender << 24 | int(m.group(2)), t_recv)

        async def edit_loop(self, t_start: float) -> None:
            await super().edit_loop(await self.h.start_together())

    class SharedBench(yb.Bench):
        def __init__(self, args: argparse.Namespace) -> None:
            super().__init__(args)
            # Ids below the offset are the other instances' clients: no send time here, so the
            # harness skips their markers when it counts its own deliveries.
            blank = [[None] * args.edits_per_client for _ in range(opts.id_offset)]
            self.sent = blank + self.sent
            self.size = args.rooms * args.clients_per_room
            self.clients: list[SharedClient] = []
            self.barrier = Barrier(opts.barrier_dir, opts.instance, opts.instances)
            self.started: asyncio.Task[float] | None = None
            self.start_wait_s = 0.0
            self.cross_settle_s: float | None = None

        def own(self, cid: int) -> bool:
            return opts.id_offset <= cid < opts.id_offset + self.size

        async def start_together(self) -> float:
            if self.started is None:
                self.started = asyncio.ensure_future(self._meet_to_start())
            return await self.started

        async def _meet_to_start(self) -> float:
            t = now()
            if await self.barrier.meet("connected", {}) is None:
                self.error("barrier: another instance did not connect in time")
            self.start_wait_s = now() - t
            return now()

        def sent_per_room(self) -> dict[str, int]:
            counts: dict[str, int] = {}
            for c in self.clients:
                n = sum(1 for t in self.sent[c.cid] if t is not None)
                counts[c.room] = counts.get(c.room, 0) + n
            return counts

        async def settle_together(self) -> None:
            """Once our own edits have settled: say how many we sent per room, hear the
            others', then wait (bounded) until our clients hold all of theirs."""
            t = now()
            everyone = await self.barrier.meet("settled", {"sent": self.sent_per_room()})
            if everyone is None:
                self.error("barrier: another instance did not settle in time")
                return
            expected: dict[str, int] = {}
            for i, other in enumerate(everyone):
                for room, n in other["sent"].items():
                    expected[room] = expected.get(room, 0) + (n if i != opts.instance else 0)
            live = [c for c in self.clients if c.live]
            deadline = now() + self.args.settle_timeout
            while now() < deadline and any(len(c.foreign) < expected[c.room] for c in live):
                await asyncio.sleep(0.05)
            self.cross_settle_s = now() - t

    return SharedBench, SharedClient


def settle_then_meet(yb: ModuleType, bench: Any) -> Callable[..., Any]:
    """The harness stops its loop-lag monitor right after its own settle and before its
    convergence check: the one place to meet the other instances in between."""
    monitor = yb.loop_lag_monitor

    async def wrapped(out: list[float], stop: asyncio.Event, tick: float = 0.01) -> None:
        await monitor(out, stop, tick)
        await bench.settle_together()

    return wrapped


def shared_figures(yb: ModuleType, bench: Any, out: dict[str, Any]) -> dict[str, Any]:
    edit = out["edit"]
    busy = edit["edit_wall_s"] + edit["settle_s"] - bench.start_wait_s
    edit["start_wait_s"] = round(bench.start_wait_s, 3)
    if bench.edits_sent and busy > 0:  # the barrier is idle time, not generator headroom
        edit["gen_cpu_pct"] = round(100 * edit["gen_cpu_s"] / busy, 1)
    out["saturated"] = yb.saturation(out)
    live = [c for c in bench.clients if c.live]
    texts: dict[str, set[str]] = {}
    for c in live:
        texts.setdefault(c.room, set()).add(hashlib.sha256(str(c.text).encode()).hexdigest())
    return {
        "clients": {c.cid: c.room for c in live},
        "sent": {c.cid: bench.sent[c.cid] for c in live},
        "own_latency_ms": bench.lat_ms,
        "arrivals": [[c.cid, k >> 24, k & 0xFFFFFF, t] for c in live for k, t in c.foreign.items()],
        "texts": {room: sorted(digests) for room, digests in texts.items()},
        "cross_settle_s": bench.cross_settle_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--harness", type=Path, required=True)
    parser.add_argument("--instance", type=int, required=True)
    parser.add_argument("--instances", type=int, required=True)
    parser.add_argument("--id-offset", type=int, required=True)
    parser.add_argument("--barrier-dir", type=Path, required=True)
    opts, rest = parser.parse_known_args()
    yb = load_harness(opts.harness)
    args = yb.parse_args([a for a in rest if a != "--"])
    if not args.json or args.json == "-" or args.preload_kb or args.echo:
        parser.error("needs --json PATH; --preload-kb and --echo are not shared")
    bench_class, client_class = shared_classes(yb, opts)
    yb.Client = client_class  # the harness creates its clients by this global name
    bench = bench_class(args)
    yb.loop_lag_monitor = settle_then_meet(yb, bench)
    out = asyncio.run(bench.run())
    out["shared"] = shared_figures(yb, bench, out)
    Path(args.json).write_text(json.dumps(out))
    print(yb.human(out), file=sys.stderr)
    good = out["convergence"]["ok"] and not out["edit"]["missing"] and not out["errors"]["total"]
    return 0 if good else 2


if __name__ == "__main__":
    sys.exit(main())
