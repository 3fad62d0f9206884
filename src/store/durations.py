"""Durations from what people type: "1h30m", "90m", "1.5h", "45s", "1:30", "1:30:15".

Everything is exact: decimals go through ``Decimal`` and must come out as whole seconds.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from store.errors import DomainError, ErrorCode

MIN_SECONDS = 1
MAX_SECONDS = 86_400
MAX_TEXT = 64
ACCEPTED = 'Use a duration such as "1h30m", "1h 30m", "90m", "1.5h", "45s", "1:30" or "1:30:15".'

_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_UNITS_RE = re.compile(
    rf"^(?:(?P<h>{_NUMBER})\s*h)?\s*(?:(?P<m>{_NUMBER})\s*m)?\s*(?:(?P<s>{_NUMBER})\s*s)?$",
    re.ASCII,
)
_CLOCK_RE = re.compile(r"^(?P<h>[0-9]{1,3}):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?$", re.ASCII)
_DECIMAL_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$", re.ASCII)


def _whole(value: Decimal, field: tuple[str, ...], message: str) -> int:
    if value != value.to_integral_value():
        raise DomainError(ErrorCode.VALIDATION, message, field)
    return int(value)


def parse_duration(text: str, field: tuple[str, ...] = ("input", "duration")) -> int:
    """Seconds in ``text``; VALIDATION with a message saying what is accepted otherwise."""
    if len(text) > MAX_TEXT:
        raise DomainError(ErrorCode.VALIDATION, f"Too long. {ACCEPTED}", field)
    cleaned = text.strip().lower()
    clock = _CLOCK_RE.match(cleaned)
    if clock:
        return int(clock["h"]) * 3600 + int(clock["m"]) * 60 + int(clock["s"] or 0)
    units = _UNITS_RE.match(cleaned) if cleaned else None
    if units is None or not any(units.group(u) for u in "hms"):
        hint = " A bare number is ambiguous: add a unit." if _DECIMAL_RE.match(cleaned) else ""
        raise DomainError(
            ErrorCode.VALIDATION, f"Not a duration: {text[:MAX_TEXT]!r}.{hint} {ACCEPTED}", field
        )
    total = Decimal(0)
    for unit, seconds in _UNIT_SECONDS.items():
        if units.group(unit):
            total += Decimal(units.group(unit)) * seconds
    return _whole(total, field, f"{text!r} is not a whole number of seconds. {ACCEPTED}")


def parse_hours(text: str, field: tuple[str, ...] = ("input", "hours")) -> int:
    """Seconds in a decimal string of hours such as "2.5", exactly."""
    cleaned = text.strip()
    if len(cleaned) > MAX_TEXT or not _DECIMAL_RE.match(cleaned):
        raise DomainError(ErrorCode.VALIDATION, 'hours is a decimal string such as "2.5".', field)
    try:
        value = Decimal(cleaned) * 3600
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise DomainError(
            ErrorCode.VALIDATION, 'hours is a decimal string such as "2.5".', field
        ) from exc
    return _whole(value, field, "hours must come to a whole number of seconds.")


def format_duration(seconds: int) -> str:
    """Canonical text: "1h30m", "45s", "2h5s"; "0s" for zero."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


def format_clock(seconds: int) -> str:
    """h:mm:ss."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def resolve_duration(
    *,
    duration_seconds: int | None,
    minutes: int | None,
    hours: str | None,
    duration: str | None,
    stopped_at: datetime | None,
    started_at: datetime,
) -> int:
    """The length of an entry: the first given of durationSeconds, minutes, hours,
    duration, stoppedAt wins; it must lie between 1 second and 24 hours."""
    if duration_seconds is not None:
        seconds, field = duration_seconds, ("input", "durationSeconds")
    elif minutes is not None:
        field = ("input", "minutes")
        if not 1 <= minutes <= 1440:
            raise DomainError(ErrorCode.VALIDATION, "minutes is 1 to 1440.", field)
        seconds = minutes * 60
    elif hours is not None:
        field = ("input", "hours")
        seconds = parse_hours(hours, field)
    elif duration is not None:
        field = ("input", "duration")
        seconds = parse_duration(duration, field)
    elif stopped_at is not None:
        field = ("input", "stoppedAt")
        if stopped_at <= started_at:
            raise DomainError(ErrorCode.VALIDATION, "stoppedAt must lie after the start.", field)
        seconds = int((stopped_at.replace(microsecond=0) - started_at).total_seconds())
    else:
        raise DomainError(
            ErrorCode.VALIDATION,
            "Say how long: durationSeconds, minutes, hours, duration or stoppedAt.",
            ("input",),
        )
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise DomainError(
            ErrorCode.VALIDATION, "A duration lies between 1 second and 24 hours.", field
        )
    return seconds
