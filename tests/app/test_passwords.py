"""Passwords are hashed with argon2id at its recommended cost, never stored as typed."""

from __future__ import annotations

import importlib

from argon2 import PasswordHasher

from app.auth import passwords


def test_production_hasher_is_argon2id_at_the_default_cost() -> None:
    fresh = importlib.reload(passwords)  # undo the tests' cheap hasher for this module
    try:
        hashed = fresh.hash_password("correct horse battery")
        assert hashed.startswith("$argon2id$")
        default = PasswordHasher()
        assert f"m={default.memory_cost},t={default.time_cost}" in hashed
        assert fresh.verify_password(hashed, "correct horse battery")
        assert not fresh.verify_password(hashed, "wrong")
        assert not fresh.verify_password(None, "anything")  # unknown account: same work, False
    finally:
        importlib.reload(passwords)
