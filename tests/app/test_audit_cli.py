"""`arobase audit verify`, run for real in a subprocess on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from app.db import Database

from .factories import World, world
from .test_audit_admin import delete, event_ids, middle_event, tamper
from .test_cli import arobase


@pytest.fixture
def people(database: Database) -> World:
    with database.session() as session:
        return world(session)


def test_an_intact_chain_exits_0(database: Database, people: World) -> None:
    result = arobase(database.url, "audit", "verify")
    count = len(event_ids(database))
    assert result.stdout.startswith(f"Chaîne intacte : {count} événements vérifiés.\n")
    assert "Empreinte du dernier événement : " in result.stdout


def test_a_rewritten_event_exits_1_and_is_named(database: Database, people: World) -> None:
    victim = middle_event(database)
    tamper(database, victim, kind="forged.kind")
    result = arobase(database.url, "audit", "verify", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"Chaîne rompue à l'événement n° {victim} : son contenu a été modifié"
    )


def test_a_deleted_event_exits_1_and_is_named(database: Database, people: World) -> None:
    victim = middle_event(database)
    following = min(i for i in event_ids(database) if i > victim)
    delete(database, victim)
    result = arobase(database.url, "audit", "verify", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"Chaîne rompue à l'événement n° {following} : "
        f"l'événement n° {victim}, qui le précédait, a été supprimé.\n"
    )
