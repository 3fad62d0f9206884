"""Tokens revoked while their subscriptions run, checked before every delivery.

A WebSocket authenticates once, in ``connection_init``. When its token is revoked, the
next event must not reach it, on any instance, whatever the broadcast backend: before an
event is delivered each process asks the database, once per event and shared by all its
subscribers, which tokens were revoked since it last looked. A subscriber holding one
gets nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from store import tokens
from store.db import Database
from store.timeutil import utcnow

# ``revoked_at`` is the revoker's clock, read before its commit: look back this far.
MARGIN = timedelta(minutes=5)


class Revocations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.prefixes: set[str] = set()
        self._since: datetime = utcnow() - MARGIN

    async def refresh(self) -> None:
        """Learn the tokens revoked since the last look (one read of the tokens table; it
        has a row per token, not per entry)."""
        async with self.db.read() as session:
            found = await tokens.revoked_since(session, since=self._since)
        for prefix, at in found:
            self.prefixes.add(prefix)
            self._since = max(self._since, at - MARGIN)

    @staticmethod
    def prefix_of(token: str | None) -> str | None:
        """What a revocation names: the token's public prefix (parse it once, then test
        ``prefix in revocations.prefixes`` at each delivery)."""
        parsed = tokens.parse_token(token) if token else None
        return parsed[0] if parsed else None

    def revoked(self, token: str | None) -> bool:
        return self.prefix_of(token) in self.prefixes
