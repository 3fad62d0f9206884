"""Durations: every accepted form, every refusal, and a round-trip property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.durations import (
    ACCEPTED,
    MAX_SECONDS,
    format_clock,
    format_duration,
    parse_duration,
    parse_hours,
    resolve_duration,
)
from store.errors import DomainError, ErrorCode

START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


@given(st.integers(min_value=1, max_value=MAX_SECONDS))
def test_formatted_durations_parse_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
    assert parse_duration(format_clock(seconds)) == seconds


@given(st.integers(min_value=0, max_value=24), st.integers(min_value=0, max_value=59))
def test_spaced_and_clock_forms(hours: int, minutes: int) -> None:
    expected = hours * 3600 + minutes * 60
    assert parse_duration(f"{hours}h {minutes}m") == expected
    assert parse_duration(f"{hours}:{minutes:02d}") == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("90m", 5400),
        ("1.5h", 5400),
        ("45s", 45),
        ("1:30", 5400),
        ("1:30:15", 5415),
        ("2h5s", 7205),
        ("1h30m15s", 5415),
        (" 2H ", 7200),
        ("0.25h", 900),
        ("1.5m", 90),
        ("0:45", 2700),
        ("24h", 86400),
    ],
)
def test_accepted(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "90",
        "1.5",
        "abc",
        "1x",
        "-1h",
        "1h-30m",
        "1h60",
        "1:60",
        "1:5",
        "1:30:60",
        "h",
        "0.0001h",
        "1.5s",
        "\u0661h",  # a digit, but not an ASCII one
        "1h 30",
        "1e3s",
        "nan",
        "1" * 70 + "h",
    ],
)
def test_refused_with_a_helpful_message(text: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_duration(text)
    assert refused.value.code == ErrorCode.VALIDATION
    assert refused.value.field == ["input", "duration"]
    assert "1h30m" in refused.value.message


def test_bare_numbers_are_called_ambiguous() -> None:
    with pytest.raises(DomainError) as refused:
        parse_duration("90")
    assert "ambiguous" in refused.value.message and refused.value.message.endswith(ACCEPTED)


@pytest.mark.parametrize(
    ("text", "seconds"), [("2.5", 9000), ("1", 3600), ("0.5", 1800), ("24", 86400)]
)
def test_hours(text: str, seconds: int) -> None:
    assert parse_hours(text) == seconds


@pytest.mark.parametrize("text", ["2,5", "-1", "1e2", "NaN", "Infinity", "", "0.0000001", "2.5h"])
def test_bad_hours(text: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_hours(text)
    assert refused.value.code == ErrorCode.VALIDATION and refused.value.field == ["input", "hours"]


def resolve(**given: object) -> int:
    args: dict[str, object] = {
        "duration_seconds": None,
        "minutes": None,
        "hours": None,
        "duration": None,
        "stopped_at": None,
        "started_at": START,
    }
    args.update(given)
    return resolve_duration(**args)  # type: ignore[arg-type]


def test_precedence_first_given_wins() -> None:
    assert (
        resolve(
            duration_seconds=60,
            minutes=2,
            hours="3",
            duration="4h",
            stopped_at=START + timedelta(hours=5),
        )
        == 60
    )
    assert resolve(minutes=2, hours="3", duration="4h") == 120
    assert resolve(hours="3", duration="4h") == 10800
    assert resolve(duration="4h", stopped_at=START + timedelta(hours=5)) == 14400
    assert resolve(stopped_at=START + timedelta(hours=5)) == 18000


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"duration_seconds": 0}, "durationSeconds"),
        ({"duration_seconds": 86401}, "durationSeconds"),
        ({"duration_seconds": -1}, "durationSeconds"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": 1441}, "minutes"),
        ({"hours": "24.01"}, "hours"),
        ({"duration": "0s"}, "duration"),
        ({"duration": "24h1s"}, "duration"),
        ({"stopped_at": START}, "stoppedAt"),
        ({"stopped_at": START - timedelta(seconds=1)}, "stoppedAt"),
        ({"stopped_at": START + timedelta(hours=24, seconds=1)}, "stoppedAt"),
    ],
)
def test_bounds(given: dict[str, object], field: str) -> None:
    with pytest.raises(DomainError) as refused:
        resolve(**given)
    assert refused.value.code == ErrorCode.VALIDATION and refused.value.field == ["input", field]


def test_bounds_inclusive() -> None:
    assert resolve(duration_seconds=1) == 1 and resolve(duration_seconds=86400) == 86400
    assert resolve(minutes=1) == 60 and resolve(minutes=1440) == 86400


def test_nothing_given() -> None:
    with pytest.raises(DomainError) as refused:
        resolve()
    assert refused.value.field == ["input"] and "durationSeconds" in refused.value.message
