"""Single-use secret tokens for links sent by mail: only their sha256 is ever stored."""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> tuple[str, str]:
    """A fresh (token, digest) pair; the token goes in the link, the digest in the database."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
