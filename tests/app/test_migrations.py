"""The schema is made only by migrations: up, down, up again, and no drift from the models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel

from app import db

from ..conftest import POSTGRES_ADMIN_URL


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    name = f"arobase_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tables(url: str) -> set[str]:
    engine = db.make_engine(url, pooled=False)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def round_trip(url: str) -> None:
    expected = set(SQLModel.metadata.tables)
    db.upgrade(url)
    assert tables(url) == expected
    db.check(url)  # raises if the models and the migrated schema differ
    db.downgrade(url, "base")
    assert tables(url) == set()
    db.upgrade(url)
    assert tables(url) == expected
    db.check(url)


def test_round_trip_on_sqlite(tmp_path: Path) -> None:
    round_trip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_round_trip_on_postgresql(empty_postgres: str) -> None:
    round_trip(empty_postgres)
