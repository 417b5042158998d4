"""Bad handshakes are refused before any document is loaded; bad frames close one connection."""

from __future__ import annotations

import os

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from collab import protocol

from ..conftest import make_settings
from ..live import free_port, serve
from .conftest import Live
from .yclient import YClient, run


async def handshake_status(url: str, cookie: str, origin: str | None) -> int:
    headers = {"Cookie": cookie} if cookie else {}
    try:
        ws = await websockets.connect(url, additional_headers=headers, origin=origin)
    except InvalidStatus as exc:
        return int(exc.response.status_code)
    await ws.close()
    return 101


def test_handshakes_are_refused_without_loading_anything(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        member = live.cookie(live.w.relecteur.email)
        outsider = live.cookie(live.w.outsider.email)
        assert await handshake_status(url, member, live.url) == 101
        assert await handshake_status(url, member, "https://evil.example") == 403
        assert await handshake_status(url, member, None) == 403
        assert await handshake_status(url, "", live.url) == 403
        assert await handshake_status(url, "arobase_session=forged", live.url) == 403
        assert await handshake_status(url, outsider, live.url) == 403
        assert await handshake_status(f"{live.ws}/collab/section-99999", member, live.url) == 403
        assert await handshake_status(f"{live.ws}/collab/autre-chose", member, live.url) == 403

    run(scenario())


BAD_FRAMES = [
    pytest.param(os.urandom(64), id="random-bytes"),
    pytest.param(b"\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff", id="truncated-varint"),
    pytest.param(b"\x00\x02\x10abc", id="truncated-payload"),
    pytest.param(protocol.sync_update(b"\x01\x02\x03garbage-update"), id="invalid-update"),
    pytest.param(protocol.sync_step1(b"\xff\xff\xff"), id="invalid-state-vector"),
    pytest.param(b"\x02\x00\x03abc", id="auth-from-client"),
    pytest.param(protocol.awareness(b"\x01\x01\x01\x03{{{"), id="awareness-not-json"),
    pytest.param("texte", id="text-frame"),
    pytest.param(protocol.sync_update(b"\x00" * (2 * 1024 * 1024)), id="oversized"),
]


@pytest.mark.parametrize("frame", BAD_FRAMES)
def test_a_bad_frame_closes_only_its_connection(live: Live, frame: bytes | str) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        cookie = live.cookie(live.w.referent.email)
        async with YClient(url, cookie, live.url) as good, YClient(url, cookie, live.url) as bad:
            await good.synced.wait()
            await bad.synced.wait()
            await bad.send_raw(frame)
            await bad.wait(lambda: bad.closed is not None, what="the bad connection to close")
            assert bad.closed is not None and bad.closed[0] in (4400, 1009)
            good.set_answer("gouvernance.budget", 7.0)
            await good.wait(good.saved, what="the room to carry on")
            async with YClient(url, cookie, live.url) as late:
                await late.synced.wait()
                assert late.answers() == {"gouvernance.budget": 7.0}

    run(scenario())


def test_flooding_is_cut_off(live: Live) -> None:
    async def scenario() -> None:
        url = live.section_url(0)
        async with YClient(url, live.cookie(live.w.referent.email), live.url) as flood:
            await flood.synced.wait()
            for _ in range(2000):
                if flood.closed:
                    break
                try:
                    await flood.send_raw(bytes([protocol.QUERY_AWARENESS]))
                except websockets.ConnectionClosed:
                    break
            await flood.wait(lambda: flood.closed is not None)
            assert flood.closed is not None and flood.closed[0] == 4429

    run(scenario())


def test_edits_survive_a_restart(live: Live) -> None:
    async def write() -> None:
        async with YClient(live.section_url(1), live.cookie(live.w.referent.email), live.url) as a:
            await a.synced.wait()
            a.append_paragraph("services.nom", "x")  # any shared type
            a.set_answer("services.portail", "https://exemple.fr")
            await a.wait(a.saved)

    run(write())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(make_settings(live.settings.database_url, base_url=url), port):
        fresh = Live(url, f"ws://127.0.0.1:{port}", live.settings, live.db, live.w)

        async def read() -> None:
            async with YClient(
                fresh.section_url(1), fresh.cookie(live.w.relecteur.email), url
            ) as r:
                await r.synced.wait()
                assert r.answers() == {"services.portail": "https://exemple.fr"}

        run(read())
