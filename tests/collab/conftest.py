"""A live Arobase server with a dossier, and logged-in cookies for its people."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from app.db import Database
from app.settings import Settings

from ..app.factories import PASSWORD, World, world
from ..conftest import make_settings
from ..live import free_port, serve


@dataclass
class Live:
    url: str
    ws: str
    settings: Settings
    db: Database
    w: World

    def cookie(self, email: str) -> str:
        with httpx.Client(base_url=self.url) as client:
            response = client.post("/login", data={"email": email, "password": PASSWORD})
            assert response.status_code == 303, response.text
            return f"arobase_session={client.cookies['arobase_session']}"

    def section_url(self, index: int = 0) -> str:
        return f"{self.ws}/collab/section-{self.w.sections[index].id}"


# Every collab test runs on both serving paths: the direct one that `arobase serve` uses and
# plain ASGI (uvicorn's own protocol), which any other ASGI server would give us.
@pytest.fixture(params=["direct", "asgi"])
def live(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Live]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(sqlite_url, base_url=url)
    database = Database(sqlite_url)
    with database.session() as session:
        w = world(session)
    with serve(settings, port, direct=request.param == "direct"):
        yield Live(url, f"ws://127.0.0.1:{port}", settings, database, w)
    database.dispose()
