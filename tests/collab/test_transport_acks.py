"""On the direct path a durable acknowledgement waits a moment for the next relay to its
client and shares its write (one system call instead of two); alone, it still goes out."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from collab.room import ACK_WAIT
from collab.transport import CollabProtocol, DirectLink, binary_frame

from .yclient import run


class Socket:
    """What a link writes to: each `write` is one system call on a real transport."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return 0


class Protocol:
    """The parts of uvicorn's protocol that a link reads, for a connection that is open."""

    handshake_complete, close_sent, disconnected = True, False, False

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport = Socket()


async def link() -> tuple[DirectLink, Socket]:
    protocol = Protocol()
    return DirectLink(cast(CollabProtocol, cast(Any, protocol))), protocol.transport


def test_an_acknowledgement_rides_on_the_next_relay() -> None:
    async def scenario() -> None:
        direct, socket = await link()
        direct.send_later(b"ack", ACK_WAIT)
        await asyncio.sleep(ACK_WAIT / 10)
        assert socket.writes == []  # it waits for company
        direct.send(b"relay")
        await asyncio.sleep(0)  # the end of this loop turn
        assert socket.writes == [binary_frame(b"ack") + binary_frame(b"relay")]
        await asyncio.sleep(ACK_WAIT * 1.5)
        assert len(socket.writes) == 1  # its timer was cancelled: nothing is sent twice

    run(scenario())


def test_alone_it_goes_out_in_time_and_a_newer_one_replaces_it() -> None:
    async def scenario() -> None:
        direct, socket = await link()
        direct.send_later(b"ack 1", ACK_WAIT)
        direct.send_later(b"ack 2", ACK_WAIT)  # a later commit covers more
        await asyncio.sleep(ACK_WAIT * 1.5)
        assert socket.writes == [binary_frame(b"ack 2")]
        direct.send_later(b"ack 3", ACK_WAIT)  # and the next one has a timer of its own
        await asyncio.sleep(ACK_WAIT * 1.5)
        assert socket.writes[1:] == [binary_frame(b"ack 3")]

    run(scenario())


def test_a_closed_link_sends_no_waiting_acknowledgement() -> None:
    async def scenario() -> None:
        direct, socket = await link()
        direct.send_later(b"ack", ACK_WAIT)
        direct.close()
        await asyncio.sleep(ACK_WAIT * 1.5)
        direct.send_later(b"late", ACK_WAIT)
        await asyncio.sleep(ACK_WAIT * 1.5)
        assert socket.writes == []

    run(scenario())
