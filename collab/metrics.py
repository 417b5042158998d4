"""Counters and latency histograms of the collab server, and the Prometheus text format.

One `Metrics` per application (the lifespan makes it and hands it to the endpoint and the
manager), not one per module: tests build many applications in one process, and each must count
only its own. Every method here is called on the event loop, like the rooms it measures, so
nothing needs a lock. The exposition is written by hand (text format 0.0.4): it is a few lines
of text and not worth a dependency.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

# Seconds. Handling one message (apply, relay to a room, queue for storing) takes tens of
# microseconds; a group commit takes milliseconds on SQLite and more on a busy PostgreSQL.
RELAY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # per bucket, the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (`le` is inclusive).
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds
        self.count += 1

    async def time(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` and observe how long it took, failed or not."""
        started = time.perf_counter()
        try:
            return await awaitable
        finally:
            self.observe(time.perf_counter() - started)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at most that long), ending with (+inf, count)."""
        total, out = 0, []
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


class LabelledCounter:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def declare(self, labels: Iterable[str]) -> None:
        """Show these labels at 0 before they happen, so that rate() sees the first increase."""
        for label in labels:
            self.values.setdefault(label, 0)

    def inc(self, label: str) -> None:
        self.values[label] = self.values.get(label, 0) + 1


@dataclass
class Metrics:
    commit_seconds: Histogram = field(default_factory=lambda: Histogram(COMMIT_BUCKETS))
    relay_seconds: Histogram = field(default_factory=lambda: Histogram(RELAY_BUCKETS))
    refusals: LabelledCounter = field(default_factory=LabelledCounter)  # by close code


class Exposition:
    """Builds the text format: each family's HELP and TYPE, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def gauge(self, name: str, description: str, value: float) -> None:
        self._family(name, description, "gauge")
        self.lines.append(f"{name} {_number(value)}")

    def counter(self, name: str, description: str, value: float) -> None:
        self._family(name, description, "counter")
        self.lines.append(f"{name} {_number(value)}")

    def labelled(
        self, name: str, description: str, kind: str, label: str, values: Mapping[str, float]
    ) -> None:
        self._family(name, description, kind)
        for key in sorted(values):
            self.lines.append(f'{name}{{{label}="{_label(key)}"}} {_number(values[key])}')

    def histogram(self, name: str, description: str, histogram: Histogram) -> None:
        self._family(name, description, "histogram")
        for bound, count in histogram.cumulative():
            self.lines.append(f'{name}_bucket{{le="{_number(bound)}"}} {count}')
        self.lines.append(f"{name}_sum {_number(histogram.sum)}")
        self.lines.append(f"{name}_count {histogram.count}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def _family(self, name: str, description: str, kind: str) -> None:
        escaped = description.replace("\\", r"\\").replace("\n", r"\n")
        self.lines.append(f"# HELP {name} {escaped}")
        self.lines.append(f"# TYPE {name} {kind}")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
