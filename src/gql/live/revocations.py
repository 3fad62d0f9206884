"""Tokens revoked (or expired) while their subscriptions run, checked before every delivery.

A WebSocket authenticates once, in ``connection_init``. When its token is revoked, the
next event must not reach it, on any instance, whatever the broadcast backend: before an
event is delivered each process asks the database, once per event and shared by all its
subscribers, which tokens ended since it last looked. A subscriber holding one gets
nothing more. A token ends when it is revoked or when its ``expires_at`` passes
(``store.tokens.is_live``): the same read finds both, so an expired token's subscriptions
end as a revoked one's do (at the next event, or the idle check of the WebSocket).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from store import tokens
from store.db import Database
from store.timeutil import utcnow, utcnow_precise

# ``revoked_at`` is the revoker's clock, read before its commit: look back this far.
# (An expiry is known ahead; it is found once it has passed on this process's clock.)
MARGIN = timedelta(minutes=5)


class Revocations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.prefixes: set[str] = set()
        self._since: datetime = utcnow() - MARGIN

    async def refresh(self) -> None:
        """Learn the tokens that ended since the last look (one read of the tokens table;
        it has a row per token, not per entry)."""
        async with self.db.read() as session:
            found = await tokens.ended_since(session, since=self._since, now=utcnow_precise())
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
