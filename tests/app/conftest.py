"""Fixtures of the app tests: the test's database, and a dossier with people in every role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.db import Database
from app.settings import Settings

from .factories import World, world


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """The SQLite database behind the `client` fixture's app."""
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def w(db: Database) -> World:
    with db.session() as session:
        return world(session)
