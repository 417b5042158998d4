"""Settings come from AROBASE_* variables, fail loudly, and are all documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError, documented_names

README = Path(__file__).resolve().parents[2] / "README.md"
LONG_SECRET = "s" * 40


def test_environment_overrides_defaults() -> None:
    settings = Settings.from_env(
        {
            "AROBASE_DATABASE_URL": "postgresql://db/arobase",
            "AROBASE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "AROBASE_SECRET_KEY": LONG_SECRET,
            "AROBASE_BASE_URL": "https://arobase.example/",
            "AROBASE_SESSION_MAX_AGE": "600",
        }
    )
    assert settings.database_url == "postgresql://db/arobase"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.session_max_age == 600
    assert settings.https and settings.origin == "https://arobase.example"


def test_production_without_a_secret_stops_with_a_clear_message() -> None:
    with pytest.raises(SettingsError, match="AROBASE_SECRET_KEY is required"):
        Settings.from_env({"AROBASE_ENV": "production"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AROBASE_SESSION_MAX_AGE": "soon"}, "must be a whole number"),
        ({"AROBASE_ENV": "staging"}, "development or production"),
        ({"AROBASE_BASE_URL": "arobase.example"}, "must start with http"),
        ({"AROBASE_SECRET_KEY": "short"}, "at least 32 characters"),
    ],
)
def test_malformed_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_development_gets_a_stable_generated_secret() -> None:
    first = Settings.from_env({})
    assert len(first.secret_key) >= 32
    assert Settings.from_env({}).secret_key == first.secret_key


def test_readme_documents_every_setting() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [name for name in documented_names() if f"`{name}`" not in readme]
    assert missing == []
