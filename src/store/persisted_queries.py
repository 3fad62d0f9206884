"""Persisted GraphQL documents by SHA-256: found by any instance, at most ``keep`` kept.

The oldest registrations go first when there are more than ``keep``; a client whose
document was dropped is told ``PERSISTED_QUERY_NOT_FOUND`` and registers it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import PersistedQuery


async def find(session: AsyncSession, *, sha256: str) -> str | None:
    found = await session.get(PersistedQuery, sha256)
    return found.document if found is not None else None


async def register(
    session: AsyncSession, *, sha256: str, document: str, now: datetime, keep: int
) -> None:
    """Store ``document`` under ``sha256`` (already there: nothing changes), then drop the
    oldest beyond ``keep``. Commits."""
    if await session.get(PersistedQuery, sha256) is None:
        session.add(PersistedQuery(sha256=sha256, document=document, created_at=now))
        try:
            await session.commit()
        except IntegrityError:  # another instance registered it at the same moment
            await session.rollback()
            return
        overflow = (
            select(PersistedQuery.sha256)
            .order_by(col(PersistedQuery.created_at).desc(), col(PersistedQuery.sha256))
            .offset(keep)
        )
        await session.exec(
            delete(PersistedQuery).where(col(PersistedQuery.sha256).in_(overflow.scalar_subquery()))
        )
        await session.commit()
