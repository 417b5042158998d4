"""A small y-websocket client on pycrdt, for tests: sync, edit, follow presence and acks."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import websockets
from pycrdt import Doc, Map, Text, XmlElement, XmlFragment, XmlText

from collab import protocol

from ..live import run  # noqa: F401 - the collab tests import it from here


class YClient:
    def __init__(
        self, url: str, cookie: str = "", origin: str = "", doc: Doc[Any] | None = None
    ) -> None:
        """`doc`: a document to go on with (a reconnection keeps what the client had)."""
        self.url, self.cookie, self.origin = url, cookie, origin
        self.doc: Doc[Any] = doc if doc is not None else Doc(client_id=random.getrandbits(32))
        self.durable: dict[int, int] = {}
        self.denied: list[str] = []
        self.awareness: dict[int, dict[str, Any] | None] = {}
        self.synced = asyncio.Event()
        self.ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self.closed: tuple[int | None, str] | None = None
        self._subscription = self.doc.observe(self._on_change)
        self._applying = False

    async def __aenter__(self) -> YClient:
        headers = {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.ws = await websockets.connect(
            self.url, additional_headers=headers, origin=self.origin or None, max_size=None
        )
        self._task = asyncio.create_task(self._listen())
        await self.ws.send(protocol.sync_step1(self.doc.get_state()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        if self._task:
            await asyncio.wait_for(self._task, 5)

    def _on_change(self, event: Any) -> None:
        if self._applying or self.ws is None:
            return
        asyncio.get_running_loop().create_task(self.ws.send(protocol.sync_update(event.update)))

    async def _listen(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, str):
                    continue
                self._handle(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = (self.ws.close_code, self.ws.close_reason or "")

    def _handle(self, raw: bytes) -> None:
        reader = protocol.Reader(raw)
        kind = reader.var_uint()
        if kind == protocol.SYNC:
            step, payload = reader.var_uint(), reader.var_bytes()
            if step == protocol.SYNC_STEP1:
                update = self.doc.get_update(payload)
                asyncio.get_running_loop().create_task(self.ws.send(protocol.sync_step2(update)))
            else:
                self._applying = True
                try:
                    self.doc.apply_update(payload)
                finally:
                    self._applying = False
                if step == protocol.SYNC_STEP2:
                    self.synced.set()
        elif kind == protocol.AWARENESS:
            for entry in protocol.decode_awareness(reader.var_bytes()):
                self.awareness[entry.client_id] = entry.state
        elif kind == protocol.AUTH:
            reader.var_uint()
            self.denied.append(reader.var_string())
        elif kind == protocol.DURABLE:
            reader2 = protocol.Reader(reader.var_bytes())
            for _ in range(reader2.var_uint()):
                client, clock = reader2.var_uint(), reader2.var_uint()
                self.durable[client] = clock

    # Editing helpers ---------------------------------------------------------------------------
    def set_answer(self, key: str, value: Any) -> None:
        self.doc.get("answers", type=Map)[key] = value

    def answers(self) -> dict[str, Any]:
        return dict(self.doc.get("answers", type=Map).to_py() or {})

    def append_paragraph(self, key: str, text: str) -> None:
        fragment = self.doc.get(key, type=XmlFragment)
        fragment.children.append(XmlElement("paragraph", {}, [XmlText(text)]))

    def rich_text(self, key: str) -> str:
        return str(self.doc.get(key, type=XmlFragment))

    def type_into(self, name: str, text: str) -> None:
        self.doc.get(name, type=Text).insert(len(self.doc.get(name, type=Text)), text)

    def own_clock(self) -> int:
        reader = protocol.Reader(self.doc.get_state())
        for _ in range(reader.var_uint()):
            client, clock = reader.var_uint(), reader.var_uint()
            if client == self.doc.client_id:
                return clock
        return 0

    def saved(self) -> bool:
        return self.durable.get(self.doc.client_id, 0) >= self.own_clock()

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def set_presence(
        self, state: dict[str, Any] | None, client_id: int | None = None, clock: int = 1
    ) -> None:
        entry = protocol.AwarenessEntry(client_id or self.doc.client_id, clock, state)
        await self.ws.send(protocol.awareness(protocol.encode_awareness([entry])))

    async def wait(self, condition: Any, timeout: float = 10.0, what: str = "") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what or condition}")
            await asyncio.sleep(0.01)


def presence_names(client: YClient) -> set[str]:
    return {
        json.dumps(s["user"]["name"]) and s["user"]["name"]
        for s in client.awareness.values()
        if s and "user" in s
    }
