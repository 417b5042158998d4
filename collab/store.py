"""How collab/ persists documents: the Store protocol, and an in-memory store for tests.

The application implements it on SQL (`app/collab_store.py`). Calls are synchronous and run in
worker threads; `append` takes the pending updates of every room at once so one flush is one
transaction (a group commit), never one per keystroke.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from collab.room import Stored


@dataclass(frozen=True)
class Loaded:
    updates: list[bytes]  # a checkpoint first if there is one, then the log tail, in order
    last_id: int  # id of the last stored update (0 if none)
    since_checkpoint: int  # how many log rows follow the checkpoint


class Store(Protocol):
    def load(self, doc_name: str) -> Loaded: ...

    def append(self, entries: list[Stored]) -> list[int]:
        """Store all entries in one transaction; return their ids in order."""

    def checkpoint(self, doc_name: str, state: bytes, upto_id: int) -> None: ...


@dataclass
class MemoryStore:
    """A Store in a dict, for tests of the collab core that need no database."""

    rows: list[tuple[int, Stored]] = field(default_factory=list)
    checkpoints: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    fail: bool = False  # make append raise, as a database outage would
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, doc_name: str) -> Loaded:
        with self._lock:
            state, upto = self.checkpoints.get(doc_name, (b"", 0))
            tail = [(i, s.data) for i, s in self.rows if s.doc_name == doc_name and i > upto]
        updates = ([state] if state else []) + [data for _, data in tail]
        last = tail[-1][0] if tail else upto
        return Loaded(updates, last, len(tail))

    def append(self, entries: list[Stored]) -> list[int]:
        if self.fail:
            raise ConnectionError("store unavailable")
        with self._lock:
            start = len(self.rows) + 1
            ids = list(range(start, start + len(entries)))
            self.rows.extend(zip(ids, entries, strict=True))
        return ids

    def checkpoint(self, doc_name: str, state: bytes, upto_id: int) -> None:
        with self._lock:
            self.checkpoints[doc_name] = (state, upto_id)
