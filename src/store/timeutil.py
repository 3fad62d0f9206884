"""Time helpers: every instant is tz-aware UTC with whole seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, truncated to whole seconds (entries are exact to the second)."""
    return datetime.now(UTC).replace(microsecond=0)


def utcnow_precise() -> datetime:
    """Now, in UTC, with microseconds: for bookkeeping columns such as updated_at."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: an offset is required")
    return value.astimezone(UTC)
