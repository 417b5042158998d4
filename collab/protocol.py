"""The y-websocket wire protocol: bytes in, bytes out, nothing else.

A message is `varUint(type)` followed by its payload:
- 0 sync: `varUint(step)` + `varUint8Array` (step 0: state vector; 1: update; 2: update)
- 1 awareness: `varUint8Array` (an awareness update)
- 2 auth: `varUint(0)` + `varString(reason)` — permission denied
- 3 query awareness: no payload
- 4 durable (ours): `varUint8Array` holding the state vector now committed to the store

Decoding is strict: anything truncated, oversized or trailing raises `ProtocolError`, so a
broken frame closes only the connection that sent it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SYNC, AWARENESS, AUTH, QUERY_AWARENESS, DURABLE = 0, 1, 2, 3, 4
SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE = 0, 1, 2
PERMISSION_DENIED = 0
_MAX_VARUINT_BYTES = 8  # 2^56: far beyond any length we accept


class ProtocolError(ValueError):
    """The bytes are not a valid y-websocket message."""


def write_var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def write_var_bytes(data: bytes) -> bytes:
    return write_var_uint(len(data)) + data


def write_var_string(text: str) -> bytes:
    return write_var_bytes(text.encode())


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def var_uint(self) -> int:
        value = shift = 0
        for _ in range(_MAX_VARUINT_BYTES):
            if self.pos >= len(self.data):
                raise ProtocolError("truncated varUint")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
        raise ProtocolError("varUint too long")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self.pos + length
        if end > len(self.data):
            raise ProtocolError("truncated byte array")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 string") from exc

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolError("trailing bytes after the message")


@dataclass(frozen=True)
class Message:
    type: int
    step: int | None = None  # sync messages only
    payload: bytes = b""


def decode(data: bytes) -> Message:
    # What an editor sends at every keystroke, an update whose length fits one or two bytes,
    # is read without the general reader; anything else (or anything odd) takes the long way.
    if len(data) > 3 and data[0] == SYNC and data[1] == SYNC_UPDATE:
        first = data[2]
        if first < 0x80:
            if len(data) == 3 + first:
                return Message(SYNC, SYNC_UPDATE, data[3:])
        elif len(data) > 4 and data[3] < 0x80 and len(data) == 4 + (first & 0x7F | data[3] << 7):
            return Message(SYNC, SYNC_UPDATE, data[4:])
    reader = Reader(data)
    kind = reader.var_uint()
    if kind == SYNC:
        step = reader.var_uint()
        if step not in (SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE):
            raise ProtocolError(f"unknown sync step {step}")
        message = Message(SYNC, step, reader.var_bytes())
    elif kind == AWARENESS:
        message = Message(AWARENESS, payload=reader.var_bytes())
    elif kind == QUERY_AWARENESS:
        message = Message(QUERY_AWARENESS)
    else:
        # Clients have no business sending auth or durable messages, nor anything else.
        raise ProtocolError(f"unexpected message type {kind}")
    reader.end()
    return message


def sync_step1(state_vector: bytes) -> bytes:
    return bytes([SYNC, SYNC_STEP1]) + write_var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return bytes([SYNC, SYNC_STEP2]) + write_var_bytes(update)


def sync_update(update: bytes) -> bytes:
    return bytes([SYNC, SYNC_UPDATE]) + write_var_bytes(update)


def awareness(update: bytes) -> bytes:
    return bytes([AWARENESS]) + write_var_bytes(update)


def permission_denied(reason: str) -> bytes:
    return bytes([AUTH, PERMISSION_DENIED]) + write_var_string(reason)


def durable(state_vector: bytes) -> bytes:
    return bytes([DURABLE]) + write_var_bytes(state_vector)


@dataclass(frozen=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: dict[str, Any] | None  # None: the client left


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    reader = Reader(payload)
    count = reader.var_uint()
    if count > 1000:
        raise ProtocolError("too many awareness entries")
    entries = []
    for _ in range(count):
        client_id, clock = reader.var_uint(), reader.var_uint()
        try:
            state = json.loads(reader.var_string())
        except json.JSONDecodeError as exc:
            raise ProtocolError("awareness state is not JSON") from exc
        if state is not None and not isinstance(state, dict):
            raise ProtocolError("awareness state must be an object or null")
        entries.append(AwarenessEntry(client_id, clock, state))
    reader.end()
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    out = bytearray(write_var_uint(len(entries)))
    for entry in entries:
        out += write_var_uint(entry.client_id) + write_var_uint(entry.clock)
        out += write_var_string(json.dumps(entry.state, separators=(",", ":")))
    return bytes(out)
