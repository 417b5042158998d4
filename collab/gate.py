"""Who may open which document: the Gate protocol the application implements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from collab.room import Peer, Permission


class Gate(Protocol):
    async def admit(
        self, headers: Mapping[str, str], doc_name: str
    ) -> tuple[Peer | None, Permission]:
        """Who is behind a handshake (from its cookies) and what they may do with the document:
        one call, so a join costs one trip to the store."""

    async def permission(self, peer: Peer, doc_name: str) -> Permission:
        """What this person may do with this document now (also re-checks their session)."""
