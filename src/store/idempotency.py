"""Idempotency records: (user, mutation, key) → the stored result, kept 24 hours.

A record is inserted at the start of the mutation's own transaction and completed in it,
so it commits together with the work or not at all. The insert does nothing when the key
is taken (``ON CONFLICT DO NOTHING``): a concurrent repeat blocks on the unique key
(PostgreSQL) or on the write lock (SQLite) until the first commits, then finds the record
in the same transaction and replays it. The work runs once, and a replay costs one
transaction of two statements: no failed insert, no rollback, no retry.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import conflict_insert, session_dialect
from store.ids import new_id
from store.models import IdempotencyRecord

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def request_hash(mutation: str, payload: Any) -> str:
    """A stable hash of a mutation's name and input (canonical JSON, sorted keys)."""
    body = orjson.dumps([mutation, payload], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


async def find(
    session: AsyncSession, *, user_id: str, mutation: str, key: str, now: datetime
) -> IdempotencyRecord | None:
    """The live record for the key; an expired one is deleted and not returned."""
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id,
        IdempotencyRecord.mutation == mutation,
        IdempotencyRecord.key == key,
    )
    record = (await session.exec(stmt)).first()
    if record is not None and record.expires_at <= now:
        await session.delete(record)
        await session.flush()
        return None
    return record


def record_values(
    *,
    user_id: str,
    mutation: str,
    key: str,
    digest: str,
    now: datetime,
    response: Any = None,
) -> dict[str, Any]:
    """Every column of a new record, by column name: what :func:`claim` inserts through the
    ORM and ``store.entry_writes`` directly (with its ``response`` already known)."""
    return {
        "id": new_id(),
        "user_id": user_id,
        "mutation": mutation,
        "key": key,
        "request_hash": digest,
        "response": None if response is None else orjson.dumps(response).decode(),
        "created_at": now,
        "expires_at": now + TTL,
    }


_RECORDS = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_KEY = ["user_id", "mutation", "key"]


async def claim(
    session: AsyncSession, *, user_id: str, mutation: str, key: str, digest: str, now: datetime
) -> str | None:
    """The id of a new, empty record for the key; None when the key is taken (by a
    committed record, live or expired, or by a transaction that committed meanwhile)."""
    values = record_values(user_id=user_id, mutation=mutation, key=key, digest=digest, now=now)
    stmt = (
        conflict_insert(session_dialect(session))(_RECORDS)
        .values(**values)
        .on_conflict_do_nothing(index_elements=_KEY)
        .returning(_RECORDS.c.id)
    )
    claimed: str | None = (await session.exec(stmt)).scalar()
    return claimed


async def complete(session: AsyncSession, record_id: str, result: Any) -> None:
    stmt = (
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.id) == record_id)
        .values(response=orjson.dumps(result).decode())
    )
    await session.exec(stmt)


def stored_result(response: str | None) -> Any:
    """A record's stored result, from its ``response`` column."""
    return orjson.loads(response or "null")


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.exec(
        delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= now)
    )
    return int(result.rowcount or 0)
