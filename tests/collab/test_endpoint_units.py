"""Parts of the endpoint that need no socket: the bounded send queue and the rate limit."""

from __future__ import annotations

import time

from collab.endpoint import SLOW_READER, _QueueChannel, _RateLimit


def test_a_client_that_stops_reading_is_cut_off_not_waited_for() -> None:
    channel = _QueueChannel(size=3)
    for n in range(3):
        channel.send(bytes([n]))
    assert channel.closing is None
    started = time.monotonic()
    channel.send(b"one too many")  # never blocks the room
    assert time.monotonic() - started < 0.01
    assert channel.closing == (SLOW_READER, "client trop lent")
    channel.send(b"after")  # ignored once closing
    assert len(channel.queue) == 3


def test_the_rate_limit_allows_bursts_then_the_sustained_rate() -> None:
    limit = _RateLimit(rate=1000.0, burst=5)
    assert all(limit.allow() for _ in range(5))
    assert not limit.allow()
    time.sleep(0.01)  # ~10 tokens back at 1,000/s, capped at the burst
    assert sum(limit.allow() for _ in range(10)) == 5
