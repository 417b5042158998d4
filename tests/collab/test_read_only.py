"""A read-only connection: its writes are never applied, and it is told so unless it only echoes."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from collab import protocol
from collab.manager import Manager
from collab.room import Connection, Permission, Room
from collab.store import MemoryStore

from .test_manager import connection, synced
from .yclient import run


def denials(conn: Connection) -> int:
    return sum(m[0] == protocol.AUTH for m in conn.channel.sent)  # type: ignore[attr-defined]


def delta(doc: Doc[Any], change: Any) -> bytes:
    before = doc.get_state()
    change(doc.get("t", type=Text))
    return doc.get_update(before)


def test_every_real_write_is_denied_and_echoes_are_not() -> None:
    async def scenario() -> None:
        manager = Manager(MemoryStore())
        writer, reader = connection(1), connection(2, Permission.READ)
        room: Room = await manager.join("section-1", writer)
        await manager.join("section-1", reader)
        synced(room, writer)
        synced(room, reader)
        source = Doc()
        room.receive(writer, protocol.sync_update(delta(source, lambda t: t.insert(0, "abcdef"))))
        room.receive(writer, protocol.sync_update(delta(source, lambda t: t.__delitem__(1))))

        mirror = Doc()  # what the reader has after its initial sync
        mirror.apply_update(room.doc.get_update())
        room.receive(reader, protocol.sync_step2(mirror.get_update()))  # the echo of it all
        assert denials(reader) == 0

        room.receive(reader, protocol.sync_update(delta(mirror, lambda t: t.insert(0, "x"))))
        room.receive(reader, protocol.sync_update(delta(mirror, lambda t: t.insert(1, "y"))))
        assert denials(reader) == 2  # incremental updates too, each time

        room.receive(reader, protocol.sync_update(delta(mirror, lambda t: t.__delitem__(3))))
        assert denials(reader) == 3  # a deletion alone is a write as well
        assert str(room.doc.get("t", type=Text)) == "acdef"  # none of it applied

    run(scenario())
