"""Database engines and sessions, and the Alembic entry points.

The schema is only ever created by the migrations in `migrations/` (tests included), so that
what runs in production is what the tests exercised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """Let people write `postgresql://`; we always drive PostgreSQL with psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pooled: bool = True) -> Engine:
    """An engine for `url`; `pooled=False` for one-off commands that must leave no connection."""
    url = normalise_url(url)
    parsed = make_url(url)
    pool_args: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if parsed.get_backend_name() != "sqlite":
        if pooled:
            pool_args = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
        return create_engine(url, **pool_args)
    on_disk = bool(parsed.database) and parsed.database != ":memory:"
    if on_disk:
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    if pooled and on_disk:
        # Room for the worker threads (joins, group commits, pages) without opening and closing
        # overflow connections, each of which pays for its PRAGMAs.
        pool_args = {"pool_size": 20, "max_overflow": 20}
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, **pool_args
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed during the collab group commit; foreign keys are off by default
    # in SQLite and we rely on them as PostgreSQL does.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """One engine and the way to open sessions on it; owned by the app's lifespan or a command."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back otherwise."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrated schema differ (Alembic's autogenerate check)."""
    command.check(alembic_config(url))
