"""Column helpers shared by the models."""

from datetime import UTC, datetime

from sqlmodel import SQLModel


def utcnow() -> datetime:
    """Aware UTC; SQLModel's UTCDateTime columns refuse naive datetimes and return UTC ones."""
    return datetime.now(UTC)


# Named constraints make migrations reproducible across SQLite and PostgreSQL (and droppable).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
