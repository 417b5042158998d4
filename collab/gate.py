"""Who may open which document: the Gate protocol the application implements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from collab.room import Peer, Permission


class Gate(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> Peer | None:
        """The person behind a handshake (from its cookies), or None."""

    async def permission(self, peer: Peer, doc_name: str) -> Permission:
        """What this person may do with this document now (also re-checks their session)."""
