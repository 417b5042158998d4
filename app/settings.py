"""Every setting of Arobase, read once from `AROBASE_*` environment variables.

The README documents each field of `Settings` (a test checks it). Defaults give the embedded
mode: one process, SQLite under `var/`, no Redis, mails kept in the database outbox.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PREFIX = "AROBASE_"
ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    env: str = field(default="development", metadata={"doc": "`development` or `production`."})
    database_url: str = field(
        default=f"sqlite:///{VAR_DIR / 'arobase.db'}",
        metadata={"doc": "SQLAlchemy URL of the store of record (SQLite or PostgreSQL)."},
    )
    redis_url: str = field(
        default="",
        metadata={"doc": "Redis URL for the bus between processes; empty = in-process bus."},
    )
    secret_key: str = field(
        default="", metadata={"doc": "Secret for signing tokens; required in production."}
    )
    base_url: str = field(
        default="http://127.0.0.1:8000",
        metadata={"doc": "Public URL of the site: links in mails, allowed Origin, Secure cookies."},
    )
    smtp_url: str = field(
        default="",
        metadata={"doc": "`smtp://user:pass@host:port` (or `smtps://`); empty = database outbox."},
    )
    mail_from: str = field(
        default="Arobase <ne-pas-repondre@arobase.localhost>",
        metadata={"doc": "Sender address of the mails Arobase sends."},
    )
    session_max_age: int = field(
        default=12 * 3600,
        metadata={"doc": "Seconds a login session lasts at most, active or not."},
    )
    session_idle_timeout: int = field(
        default=2 * 3600,
        metadata={"doc": "Seconds of inactivity after which a login session ends."},
    )
    log_level: str = field(default="info", metadata={"doc": "Log level of the server."})
    log_format: str = field(
        default="text",
        metadata={"doc": "`text` (one readable line per event) or `json` (one object per line)."},
    )
    metrics_token: str = field(
        default="",
        metadata={"doc": "Bearer token that /metrics requires; empty = /metrics is open."},
    )
    oidc_issuer: str = field(
        default="",
        metadata={"doc": "OpenID Connect issuer URL (discovery); empty = no OIDC login."},
    )
    oidc_client_id: str = field(default="", metadata={"doc": "OIDC client id."})
    oidc_client_secret: str = field(default="", metadata={"doc": "OIDC client secret."})
    oidc_scopes: str = field(
        default="openid email given_name usual_name uid siret",
        metadata={"doc": "Scopes asked for (ProConnect's by default)."},
    )

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def oidc_redirect_uri(self) -> str:
        return f"{self.base_url.rstrip('/')}/auth/oidc/callback"

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def origin(self) -> str:
        """Scheme, host and port of `base_url`: what browsers send as `Origin`."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            if f.type in ("int", int):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise SettingsError(
                        f"{PREFIX}{f.name.upper()} must be a whole number, got {raw!r}"
                    ) from None
            else:
                values[f.name] = raw.strip()
        values.update(overrides)
        return cls(**values).checked()

    def checked(self) -> Settings:
        if self.env not in ("development", "production"):
            raise SettingsError(f"AROBASE_ENV must be development or production, got {self.env!r}")
        if not self.base_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"AROBASE_BASE_URL must start with http(s)://, got {self.base_url!r}"
            )
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"AROBASE_LOG_FORMAT must be text or json, got {self.log_format!r}")
        if self.session_max_age <= 0 or self.session_idle_timeout <= 0:
            raise SettingsError("AROBASE_SESSION_MAX_AGE and _IDLE_TIMEOUT must be positive")
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise SettingsError("AROBASE_SECRET_KEY must be at least 32 characters long")
            return self
        if self.production:
            raise SettingsError(
                "AROBASE_SECRET_KEY is required when AROBASE_ENV=production: set it to a long "
                'random value, e.g. python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        return _with_development_secret(self)


def _with_development_secret(settings: Settings) -> Settings:
    """Development without a secret: keep one in `var/` so every worker shares it."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return Settings(**{**settings.__dict__, "secret_key": path.read_text().strip()})


def documented_names() -> list[str]:
    return [PREFIX + f.name.upper() for f in fields(Settings)]
