"""Scalars: ``DateTime`` takes any ISO-8601 offset on input and always answers UTC with ``Z``.

Every custom scalar names its specification (``@specifiedBy``), so client generators can
map it (docs/scalars.md gives GraphQL Code Generator's settings).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import NewType

import strawberry
from strawberry.schema.types.base_scalars import DateDefinition
from strawberry.types.scalar import ScalarDefinition

from store.timeutil import format_instant

DATE_TIME_SPEC = "https://scalars.graphql.org/andimarek/date-time"
DATE_SPEC = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
# A JSON number, exact where I-JSON promises interoperability (up to 2^53 - 1).
BIG_INT_SPEC = "https://www.rfc-editor.org/rfc/rfc7493#section-2.2"


def serialize_datetime(value: datetime) -> str:
    """Every instant the API returns, in one precision (``store.timeutil.format_instant``,
    which the change history's values share)."""
    return format_instant(value)


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
    specified_by_url=DATE_TIME_SPEC,
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)


def _parse_big_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("BigInt must be an integer")


# A year of a team's cents passes Int's 2^31 - 1 (21 million in currency units) quickly.
BigInt = NewType("BigInt", int)
BIG_INT = strawberry.scalar(
    name="BigInt",
    description="A signed integer beyond Int's 32 bits, as a JSON number "
    "(exact in JavaScript up to 2^53 - 1).",
    specified_by_url=BIG_INT_SPEC,
    serialize=int,
    parse_value=_parse_big_int,
)

# Strawberry's own Date (its parsing and serialising), with its specification named.
DATE = dataclasses.replace(
    DateDefinition, description="A calendar date: `YYYY-MM-DD`.", specified_by_url=DATE_SPEC
)

SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DateTime, date: DATE, BigInt: BIG_INT}
