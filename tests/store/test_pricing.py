"""Billing defaults, rounding and half-up cents: every branch, in a table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from store.money import amount_cents, rounded_seconds
from store.pricing import resolve_billable, resolve_rate_cents


@dataclass
class Cat:
    billable: bool | None = None
    rate_cents: int | None = None


@pytest.mark.parametrize(
    ("explicit", "chain", "team", "expected"),
    [
        (True, [Cat(False)], False, True),  # explicit wins
        (False, [Cat(True)], True, False),
        (None, [Cat(False)], True, False),  # the task's own category
        (None, [Cat(None), Cat(False)], True, False),  # else the nearest ancestor that sets one
        (None, [Cat(None), Cat(True), Cat(False)], False, True),
        (None, [Cat(None), Cat(None)], False, False),  # else the team
        (None, [], True, True),
    ],
)
def test_billable(explicit: bool | None, chain: list[Cat], team: bool, expected: bool) -> None:
    assert resolve_billable(explicit, chain, team) is expected


@pytest.mark.parametrize(
    ("member", "chain", "team", "expected"),
    [
        (9000, [Cat(rate_cents=5000)], 100, 9000),  # the member's rate
        (0, [Cat(rate_cents=5000)], 100, 0),  # a zero rate is a rate
        (None, [Cat(rate_cents=5000)], 100, 5000),  # else the nearest category's
        (None, [Cat(), Cat(rate_cents=7000), Cat(rate_cents=1)], 100, 7000),
        (None, [Cat(), Cat()], 100, 100),  # else the team's
        (None, [], 0, 0),
    ],
)
def test_rate(member: int | None, chain: list[Cat], team: int, expected: int) -> None:
    assert resolve_rate_cents(member, chain, team) == expected


@pytest.mark.parametrize(
    ("seconds", "mode", "minutes", "expected"),
    [
        (1801, "NONE", 15, 1801),
        (1801, "FLOOR", 15, 1800),
        (899, "FLOOR", 15, 0),
        (900, "FLOOR", 15, 900),
        (1801, "CEIL", 15, 2700),
        (900, "CEIL", 15, 900),
        (1, "CEIL", 15, 900),
        (449, "NEAREST", 15, 0),
        (450, "NEAREST", 15, 900),
        (1349, "NEAREST", 15, 900),
        (1350, "NEAREST", 15, 1800),
        (179, "NEAREST", 6, 0),
        (180, "NEAREST", 6, 360),
        (61, "CEIL", 1, 120),
        (61, "FLOOR", 1, 60),
        (59, "NEAREST", 1, 60),
        (29, "NEAREST", 1, 0),
    ],
)
def test_rounding(seconds: int, mode: str, minutes: int, expected: int) -> None:
    assert rounded_seconds(seconds, mode, minutes) == expected


@pytest.mark.parametrize(
    ("rate", "seconds", "billable", "expected"),
    [
        (1, 1800, True, 1),  # 0.5 cent rounds half up
        (1, 1799, True, 0),
        (1, 5400, True, 2),  # 1.5 → 2
        (3, 1200, True, 1),  # exactly 1
        (10_000, 3600, True, 10_000),
        (12_345, 61, True, 209),  # 209.18…
        (9000, 3600, False, 0),  # not billable: nothing
        (0, 3600, True, 0),
    ],
)
def test_amount_half_up(rate: int, seconds: int, billable: bool, expected: int) -> None:
    assert amount_cents(rate, seconds, billable=billable) == expected
