"""The y-websocket messages as bytes: what a client's message decodes to, and what is refused."""

from __future__ import annotations

import pytest

from collab import protocol
from collab.protocol import Message, ProtocolError

# Around the limits of one-, two- and three-byte lengths.
SIZES = [1, 2, 126, 127, 128, 129, 16383, 16384, 16385, 70000]


@pytest.mark.parametrize("size", SIZES)
def test_an_update_decodes_to_its_payload(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    assert protocol.decode(protocol.sync_update(payload)) == Message(
        protocol.SYNC, protocol.SYNC_UPDATE, payload
    )


@pytest.mark.parametrize("size", SIZES)
def test_an_update_cut_short_or_overlong_is_refused(size: int) -> None:
    message = protocol.sync_update(bytes(size))
    with pytest.raises(ProtocolError):
        protocol.decode(message[:-1])
    with pytest.raises(ProtocolError):
        protocol.decode(message + b"\x00")


def test_the_other_messages_decode_as_before() -> None:
    assert protocol.decode(protocol.sync_step1(b"\x00")) == Message(
        protocol.SYNC, protocol.SYNC_STEP1, b"\x00"
    )
    assert protocol.decode(protocol.sync_step2(b"\x00\x00")) == Message(
        protocol.SYNC, protocol.SYNC_STEP2, b"\x00\x00"
    )
    assert protocol.decode(protocol.sync_update(b"")) == Message(
        protocol.SYNC, protocol.SYNC_UPDATE, b""
    )
    assert protocol.decode(bytes([protocol.QUERY_AWARENESS])).type == protocol.QUERY_AWARENESS
    with pytest.raises(ProtocolError):
        protocol.decode(b"\x00\x07\x01x")  # no such sync step
