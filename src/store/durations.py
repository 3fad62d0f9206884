"""Durations from what people type: "1h30m", "90m", "1.5h", "45s", "1:30", "1:30:15".

Everything is exact. A decimal is read by ``Decimal`` as an exact ratio of integers and
must come to whole seconds; no arithmetic runs in a rounding ``Decimal`` context, so a
28-digit context can never turn 1.0000…0008 seconds into an accepted 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from store.errors import DomainError, ErrorCode

MIN_SECONDS = 1
MAX_SECONDS = 86_400
MAX_MINUTES = MAX_SECONDS // 60
# Checked before any regex or Decimal sees the text.
MAX_TEXT = 64

ACCEPTED = 'Use a duration such as "1h30m", "1h 30m", "90m", "1.5h", "45s", "1:30" or "1:30:15".'
HOURS_ACCEPTED = 'Give hours as a decimal string such as "2.5" or "0.25".'
BOUNDS = "A duration lies between 1 second and 24 hours."

_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# re.ASCII: \s is ASCII whitespace only; digits are spelled [0-9] so that
# ARABIC-INDIC DIGIT ONE and its kin are not digits here.
_UNITS_RE = re.compile(
    rf"(?:(?P<h>{_NUMBER})\s*h)?\s*(?:(?P<m>{_NUMBER})\s*m)?\s*(?:(?P<s>{_NUMBER})\s*s)?",
    re.ASCII,
)
_CLOCK_RE = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?", re.ASCII)
_DECIMAL_RE = re.compile(_NUMBER, re.ASCII)

Field = Sequence[str]


def _exact_seconds(number: str, unit_seconds: int) -> int | None:
    """``number * unit_seconds`` when that is a whole number of seconds, else None."""
    numerator, denominator = Decimal(number).as_integer_ratio()
    whole, rest = divmod(numerator * unit_seconds, denominator)
    return None if rest else whole


def _bounded(seconds: int, field: Field, hint: str = "") -> int:
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise DomainError(ErrorCode.VALIDATION, f"{BOUNDS}{hint}", field)
    return seconds


def parse_duration(text: str, *, field: Field = ("input", "duration")) -> int:
    """Seconds in ``text`` (1 to 86400); VALIDATION saying what is accepted otherwise."""
    if len(text) > MAX_TEXT:
        raise DomainError(
            ErrorCode.VALIDATION, f"Too long: at most {MAX_TEXT} characters. {ACCEPTED}", field
        )
    cleaned = text.strip().lower()
    clock = _CLOCK_RE.fullmatch(cleaned)
    if clock:
        total = int(clock["h"]) * 3600 + int(clock["m"]) * 60 + int(clock["s"] or 0)
        return _bounded(total, field, f" {ACCEPTED}")
    units = _UNITS_RE.fullmatch(cleaned)
    if units is None or not any(units.group(u) for u in _UNIT_SECONDS):
        hint = " A bare number is ambiguous: add a unit." if _DECIMAL_RE.fullmatch(cleaned) else ""
        raise DomainError(
            ErrorCode.VALIDATION, f"Not a duration: {text!r}.{hint} {ACCEPTED}", field
        )
    total = 0
    for unit, unit_seconds in _UNIT_SECONDS.items():
        number = units.group(unit)
        if number is None:
            continue
        part = _exact_seconds(number, unit_seconds)
        if part is None:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"{number}{unit} is not a whole number of seconds. {ACCEPTED}",
                field,
            )
        total += part
    return _bounded(total, field, f" {ACCEPTED}")


def parse_hours(text: str, *, field: Field = ("input", "hours")) -> int:
    """Seconds in a decimal string of hours such as "2.5" (1 second to 24 hours), exactly."""
    if len(text) > MAX_TEXT:
        raise DomainError(ErrorCode.VALIDATION, f"Too long. {HOURS_ACCEPTED}", field)
    cleaned = text.strip()
    # The pattern, not Decimal, decides what is a decimal: Decimal would also take
    # "-1", "1e2", "NaN", "Infinity", "1_000" and non-ASCII digits.
    if not _DECIMAL_RE.fullmatch(cleaned):
        raise DomainError(ErrorCode.VALIDATION, f"Not a number of hours. {HOURS_ACCEPTED}", field)
    seconds = _exact_seconds(cleaned, 3600)
    if seconds is None:
        raise DomainError(
            ErrorCode.VALIDATION, f"{cleaned} hours is not a whole number of seconds.", field
        )
    return _bounded(seconds, field)


def format_duration(seconds: int) -> str:
    """Canonical text that :func:`parse_duration` reads back: "1h30m", "45s", "2h5s"; "0s"."""
    if seconds < 0:
        raise ValueError(f"a duration is not negative: {seconds}")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


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
        return _bounded(duration_seconds, ("input", "durationSeconds"))
    if minutes is not None:
        if not 1 <= minutes <= MAX_MINUTES:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"minutes must be between 1 and {MAX_MINUTES} (24 hours).",
                ("input", "minutes"),
            )
        return minutes * 60
    if hours is not None:
        return parse_hours(hours, field=("input", "hours"))
    if duration is not None:
        return parse_duration(duration, field=("input", "duration"))
    if stopped_at is not None:
        field = ("input", "stoppedAt")
        if stopped_at <= started_at:
            raise DomainError(ErrorCode.VALIDATION, "stoppedAt must be after startedAt.", field)
        # Floor division of timedeltas is exact integer arithmetic (no float seconds);
        # a part of a second is dropped, as instants are kept to the second.
        return _bounded((stopped_at - started_at) // timedelta(seconds=1), field)
    raise DomainError(
        ErrorCode.VALIDATION,
        'Say how long: give one of durationSeconds, minutes (1 to 1440), hours (e.g. "2.5"), '
        'duration (e.g. "1h30m") or stoppedAt.',
        ("input",),
    )
