"""Time helpers: every instant is tz-aware UTC with whole seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, truncated to whole seconds (entries are exact to the second)."""
    return datetime.now(UTC).replace(microsecond=0)


def utcnow_precise() -> datetime:
    """Now, in UTC, with microseconds: for bookkeeping columns such as updated_at."""
    return datetime.now(UTC)


def format_instant(value: datetime) -> str:
    """An instant as the API shows every instant: whole seconds, UTC, ``Z``.

    Entries are exact to the second; bookkeeping instants (``updatedAt``...) are stored
    finer and shown truncated, so a sync client that polls ``updatedSince`` (inclusive)
    with the last ``updatedAt`` it saw gets every later change of that second again."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")[:-6] + "Z"


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: an offset is required")
    return value.astimezone(UTC)
