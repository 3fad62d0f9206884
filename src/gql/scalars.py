"""Scalars: ``DateTime`` takes any ISO-8601 offset on input and always answers UTC with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types.scalar import ScalarDefinition


def serialize_datetime(value: datetime) -> str:
    value = value.astimezone(UTC)
    text = value.replace(tzinfo=None).isoformat(
        timespec="microseconds" if value.microsecond else "seconds"
    )
    return text + "Z"


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string with an offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"DateTime {value!r} is not ISO-8601 (e.g. 2025-01-15T09:00:00Z)") from exc
    if parsed.tzinfo is None:
        raise ValueError(f"DateTime {value!r} has no offset: add Z or ±HH:MM")
    return parsed.astimezone(UTC)


DateTime = strawberry.scalar(
    name="DateTime",
    description="An instant: ISO-8601 with an offset on input, UTC with `Z` on output.",
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)

SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DateTime}
