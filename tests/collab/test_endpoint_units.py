"""Parts of the endpoint that need no socket: send queues, the rate limit, server frames."""

from __future__ import annotations

import time

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from collab.endpoint import SLOW_READER, _QueueChannel, _RateLimit
from collab.transport import binary_frame


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


def test_the_queue_is_bounded_in_bytes_too() -> None:
    channel = _QueueChannel(size=1000, limit=100)
    channel.send(b"x" * 101)
    assert channel.closing is None
    channel.send(b"y")  # more than `limit` bytes already wait: the client is not reading
    assert channel.closing == (SLOW_READER, "client trop lent")
    assert channel.pop() == b"x" * 101 and channel.queued_bytes == 0


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_frame_built_once_is_what_a_websocket_parser_reads(size: int) -> None:
    payload = bytes(n % 251 for n in range(size))
    reader = StreamReader()
    reader.feed_data(binary_frame(payload))
    reader.feed_eof()
    with pytest.raises(StopIteration) as parsed:  # the parser is a generator that returns
        next(Frame.parse(reader.read_exact, mask=False, max_size=None))
    frame = parsed.value.value
    assert frame.opcode == Opcode.BINARY and frame.fin and bytes(frame.data) == payload
    assert not reader.buffer  # the frame is exactly one frame long
