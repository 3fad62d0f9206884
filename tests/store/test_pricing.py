"""Billing defaults, rounding and half-up cents: every branch, in tables, plus oracles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.models import Category, Rounding
from store.money import amount_cents, rounded_seconds
from store.pricing import Priced, resolve_billable, resolve_rate_cents


@dataclass(frozen=True)
class Cat:
    billable: bool | None = None
    rate_cents: int | None = None


# --- billable ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "chain", "team", "expected"),
    [
        # explicit wins over every category and the team
        (True, [Cat(False)], False, True),
        (False, [Cat(True)], True, False),
        (True, [], False, True),
        (False, [], True, False),
        # else the task's own category
        (None, [Cat(False)], True, False),
        (None, [Cat(True)], False, True),
        (None, [Cat(False), Cat(True)], True, False),  # nearer beats farther
        # else the nearest ancestor that sets one
        (None, [Cat(None), Cat(False)], True, False),
        (None, [Cat(None), Cat(True), Cat(False)], False, True),
        (None, [Cat(None), Cat(None), Cat(None), Cat(False)], True, False),
        # else the team
        (None, [Cat(None), Cat(None)], False, False),
        (None, [Cat(None), Cat(None)], True, True),
        (None, [], True, True),
        (None, [], False, False),
        # a category's rate says nothing about billable
        (None, [Cat(None, rate_cents=5000)], False, False),
    ],
)
def test_billable(explicit: bool | None, chain: list[Cat], team: bool, expected: bool) -> None:
    assert resolve_billable(explicit, chain, team) is expected


# --- rate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "chain", "team", "expected"),
    [
        # the member's rate
        (9000, [Cat(rate_cents=5000)], 100, 9000),
        (9000, [], 100, 9000),
        (0, [Cat(rate_cents=5000)], 100, 0),  # a zero rate is a rate, not "unset"
        # else the nearest category's
        (None, [Cat(rate_cents=5000)], 100, 5000),
        (None, [Cat(rate_cents=0), Cat(rate_cents=5000)], 100, 0),
        (None, [Cat(), Cat(rate_cents=7000), Cat(rate_cents=1)], 100, 7000),
        (None, [Cat(), Cat(), Cat(rate_cents=3)], 100, 3),
        # a category's billable says nothing about the rate
        (None, [Cat(billable=True), Cat(rate_cents=42)], 100, 42),
        # else the team's
        (None, [Cat(), Cat()], 100, 100),
        (None, [Cat(billable=False)], 100, 100),
        (None, [], 250, 250),
        (None, [], 0, 0),
    ],
)
def test_rate(member: int | None, chain: list[Cat], team: int, expected: int) -> None:
    assert resolve_rate_cents(member, chain, team) == expected


def _category(billable: bool | None, rate_cents: int | None) -> Category:
    return Category(id="c", team_id="t", title="c", billable=billable, rate_cents=rate_cents)


def test_model_categories_fit_the_protocol() -> None:
    chain: Sequence[Priced] = [_category(None, None), _category(False, 1200)]
    assert resolve_billable(None, chain, True) is False
    assert resolve_rate_cents(None, chain, 100) == 1200


# --- rounded_seconds ---------------------------------------------------------------------

# One row per duration: seconds, then FLOOR, CEIL, NEAREST for that step. Each step has
# zero, one second, a second either side of the half step, the half step itself, a second
# either side of the step, the exact step, 1.5 steps and two steps.
ROUNDING_TABLE: dict[int, list[tuple[int, int, int, int]]] = {
    1: [
        (0, 0, 0, 0),
        (1, 0, 60, 0),
        (29, 0, 60, 0),
        (30, 0, 60, 60),  # a half step rounds up
        (31, 0, 60, 60),
        (59, 0, 60, 60),
        (60, 60, 60, 60),  # exact multiples stay
        (61, 60, 120, 60),
        (89, 60, 120, 60),
        (90, 60, 120, 120),
        (120, 120, 120, 120),
    ],
    6: [
        (0, 0, 0, 0),
        (1, 0, 360, 0),
        (179, 0, 360, 0),
        (180, 0, 360, 360),
        (181, 0, 360, 360),
        (359, 0, 360, 360),
        (360, 360, 360, 360),
        (361, 360, 720, 360),
        (539, 360, 720, 360),
        (540, 360, 720, 720),
        (720, 720, 720, 720),
    ],
    15: [
        (0, 0, 0, 0),
        (1, 0, 900, 0),
        (449, 0, 900, 0),
        (450, 0, 900, 900),  # 7m30s → 15m
        (451, 0, 900, 900),
        (899, 0, 900, 900),
        (900, 900, 900, 900),
        (901, 900, 1800, 900),
        (1349, 900, 1800, 900),
        (1350, 900, 1800, 1800),
        (1800, 1800, 1800, 1800),
    ],
}
ROUNDING_CASES = [
    pytest.param(seconds, mode, minutes, expected, id=f"{mode}-{minutes}m-{seconds}s")
    for minutes, rows in ROUNDING_TABLE.items()
    for seconds, floor, ceil, nearest in rows
    for mode, expected in (
        (Rounding.NONE, seconds),
        (Rounding.FLOOR, floor),
        (Rounding.CEIL, ceil),
        (Rounding.NEAREST, nearest),
    )
]


@pytest.mark.parametrize(("seconds", "mode", "minutes", "expected"), ROUNDING_CASES)
def test_rounding(seconds: int, mode: Rounding, minutes: int, expected: int) -> None:
    assert rounded_seconds(seconds, mode, minutes) == expected
    # Teams store the mode as a plain string.
    assert rounded_seconds(seconds, mode.value, minutes) == expected


@pytest.mark.parametrize(
    ("seconds", "mode", "minutes", "expected"),
    [
        (61, "CEIL", 0, 120),  # a step below one minute counts as one minute
        (61, "CEIL", -15, 120),
        (90, "NEAREST", 0, 120),
        (1801, "SOMETHING", 15, 1801),  # an unknown mode leaves the duration alone
    ],
)
def test_rounding_odd_settings(seconds: int, mode: str, minutes: int, expected: int) -> None:
    assert rounded_seconds(seconds, mode, minutes) == expected


DECIMAL_MODES = {
    Rounding.FLOOR: ROUND_FLOOR,
    Rounding.CEIL: ROUND_CEILING,
    Rounding.NEAREST: ROUND_HALF_UP,
}


@given(
    st.integers(min_value=0, max_value=10 * 86_400),
    st.sampled_from(sorted(DECIMAL_MODES)),
    st.integers(min_value=1, max_value=24 * 60),
)
def test_rounding_matches_decimal(seconds: int, mode: Rounding, minutes: int) -> None:
    step = minutes * 60
    steps = (Decimal(seconds) / step).quantize(Decimal(1), rounding=DECIMAL_MODES[mode])
    assert rounded_seconds(seconds, mode, minutes) == int(steps) * step


# --- amount_cents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "seconds", "billable", "expected"),
    [
        (1, 1800, True, 1),  # 0.5 cent rounds half up
        (1, 1799, True, 0),  # 0.4997… rounds down
        (1, 1801, True, 1),
        (1, 5400, True, 2),  # 1.5 → 2
        (1, 5399, True, 1),
        (1, 9000, True, 3),  # 2.5 → 3: half up, not half to even
        (3, 1200, True, 1),  # exactly 1
        (10_000, 3600, True, 10_000),
        (10_000, 86_400, True, 240_000),
        (12_345, 61, True, 209),  # 209.18…
        (12_345, 900, True, 3086),  # 3086.25
        (15_000, 1, True, 4),  # 4.166…
        (7_200, 1, True, 2),
        (0, 3600, True, 0),
        (5_000, 0, True, 0),
        (9000, 3600, False, 0),  # not billable: nothing
        (1, 1800, False, 0),
        (0, 0, False, 0),
    ],
)
def test_amount_half_up(rate: int, seconds: int, billable: bool, expected: int) -> None:
    assert amount_cents(rate, seconds, billable=billable) == expected


@given(
    st.integers(min_value=-10_000_000, max_value=10_000_000),
    st.integers(min_value=0, max_value=10 * 86_400),
)
def test_amount_matches_decimal_half_up(rate: int, seconds: int) -> None:
    """Decimal's ROUND_HALF_UP (ties away from zero) as the oracle; the quotient has far
    fewer than 28 significant digits, so the division is exact enough to place ties."""
    exact = Decimal(rate * seconds) / 3600
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert amount_cents(rate, seconds, billable=True) == expected
    assert amount_cents(rate, seconds, billable=False) == 0
