"""Rounding of durations and amounts, in integers only."""

from __future__ import annotations

from store.models import Rounding


def rounded_seconds(seconds: int, mode: str, minutes: int) -> int:
    """``seconds`` rounded to a multiple of ``minutes`` minutes by the team's ``mode``.

    NEAREST rounds a half step up (a 15-minute step turns 7m30s into 15m).
    """
    if mode == Rounding.NONE:
        return seconds
    step = max(1, minutes) * 60
    if mode == Rounding.FLOOR:
        return seconds // step * step
    if mode == Rounding.CEIL:
        return -(-seconds // step) * step
    if mode == Rounding.NEAREST:
        return (seconds + step // 2) // step * step
    return seconds


def amount_cents(rate_cents_per_hour: int, seconds: int, *, billable: bool) -> int:
    """``round_half_up(rate * seconds / 3600)`` when billable, else 0; exact in integers."""
    if not billable:
        return 0
    numerator = rate_cents_per_hour * seconds
    if numerator >= 0:
        return (2 * numerator + 3600) // 7200
    return -((2 * -numerator + 3600) // 7200)


def format_cents(cents: int) -> str:
    """Integer cents as a decimal with two places ("12.34", "-0.05"), from integers only:
    a float would print 0.1 + 0.2 cents' worth of error into an invoice."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units}.{rest:02d}"
