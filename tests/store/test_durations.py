"""Durations: every accepted form, every refusal, exactness, precedence and bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from store.durations import (
    ACCEPTED,
    BOUNDS,
    HOURS_ACCEPTED,
    MAX_SECONDS,
    MAX_TEXT,
    MIN_SECONDS,
    format_duration,
    parse_duration,
    parse_hours,
    resolve_duration,
)
from store.errors import DomainError, ErrorCode

START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def format_clock(seconds: int) -> str:
    """h:mm:ss, e.g. "1:30:15": the clock form the parser reads."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


SECONDS = st.integers(min_value=MIN_SECONDS, max_value=MAX_SECONDS)


def refusal(call: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(DomainError) as refused:
        call(*args, **kwargs)
    assert refused.value.code == ErrorCode.VALIDATION
    return refused.value


# --- round trips -------------------------------------------------------------------------


@given(SECONDS)
@example(MIN_SECONDS)
@example(MAX_SECONDS)
def test_canonical_form_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(SECONDS)
@example(MIN_SECONDS)
@example(MAX_SECONDS)
def test_clock_form_round_trips(seconds: int) -> None:
    text = format_clock(seconds)
    assert parse_duration(text) == seconds
    if seconds % 60 == 0:
        assert parse_duration(text.removesuffix(":00")) == seconds  # h:mm


@given(SECONDS, st.sampled_from([" ", "\t", "\n", ""]))
def test_case_and_surrounding_whitespace_do_not_matter(seconds: int, space: str) -> None:
    text = format_duration(seconds)
    assert parse_duration(f"{space}{text.upper()}{space}") == seconds
    # "1h 30m": a space may separate the parts and the number from its unit.
    spaced = " ".join(text.replace("h", " h").replace("m", " m").replace("s", " s").split())
    assert parse_duration(spaced) == seconds


@given(
    st.integers(min_value=0, max_value=86_400_000),
    st.integers(min_value=0, max_value=6),
    st.sampled_from([("h", 3600), ("m", 60), ("s", 1)]),
)
def test_decimals_are_accepted_exactly_when_whole_seconds(
    digits: int, places: int, unit: tuple[str, int]
) -> None:
    """Oracle in plain integers: digits / 10**places units is whole seconds or refused."""
    letter, unit_seconds = unit
    text = str(digits).rjust(places + 1, "0")
    if places:
        text = f"{text[:-places]}.{text[-places:]}"
    whole, rest = divmod(digits * unit_seconds, 10**places)
    if rest == 0 and MIN_SECONDS <= whole <= MAX_SECONDS:
        assert parse_duration(f"{text}{letter}") == whole
    else:
        assert refusal(parse_duration, f"{text}{letter}").message.endswith(ACCEPTED)


@given(st.text(max_size=80))
@example("1h30m")
@example("\u0663:\u0660\u0660")
def test_any_text_is_a_duration_in_bounds_or_a_validation_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DomainError as refused:
        assert refused.code == ErrorCode.VALIDATION
        assert refused.field == ["input", "duration"]
        assert refused.message.endswith(ACCEPTED)
    else:
        assert MIN_SECONDS <= seconds <= MAX_SECONDS


# --- tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1 h 30 m", 5400),
        ("90m", 5400),
        ("1.5h", 5400),
        ("45s", 45),
        ("2h5s", 7205),
        ("1h30m15s", 5415),
        ("1h 30m 15s", 5415),
        ("1:30", 5400),
        ("1:30:15", 5415),
        ("01:05", 3900),
        ("0:45", 2700),
        ("0:00:01", 1),
        ("24:00", 86400),
        ("24:00:00", 86400),
        (" 2H ", 7200),
        ("1H30M", 5400),
        ("\t1h30m\n", 5400),
        ("0.25h", 900),
        ("1.5m", 90),
        ("0.5m", 30),
        ("1.25m", 75),
        ("1.50h", 5400),
        ("1s", 1),
        ("86400s", 86400),
        ("1440m", 86400),
        ("24h", 86400),
        ("23h59m59s", 86399),
        ("1.5h30m", 7200),
    ],
)
def test_accepted(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


NOT_A_DURATION = "Not a duration"
AMBIGUOUS = "A bare number is ambiguous: add a unit."
NOT_WHOLE = "is not a whole number of seconds"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", NOT_A_DURATION),
        ("   ", NOT_A_DURATION),
        ("90", AMBIGUOUS),
        ("1.5", AMBIGUOUS),
        (" 7 ", AMBIGUOUS),
        ("abc", NOT_A_DURATION),
        ("1x", NOT_A_DURATION),
        ("h", NOT_A_DURATION),
        ("1hr", NOT_A_DURATION),
        ("1 hour", NOT_A_DURATION),
        ("-1h", NOT_A_DURATION),
        ("+1h", NOT_A_DURATION),
        ("1h-30m", NOT_A_DURATION),
        ("1h60", NOT_A_DURATION),
        ("1h 30", NOT_A_DURATION),
        ("30m1h", NOT_A_DURATION),  # parts go largest first
        ("1h1h", NOT_A_DURATION),
        ("1,5h", NOT_A_DURATION),
        (".5h", NOT_A_DURATION),
        ("1.h", NOT_A_DURATION),
        ("1e3s", NOT_A_DURATION),
        ("nan", NOT_A_DURATION),
        ("inf", NOT_A_DURATION),
        ("1:60", NOT_A_DURATION),
        ("1:5", NOT_A_DURATION),
        ("1:30:60", NOT_A_DURATION),
        ("1:30:5", NOT_A_DURATION),
        ("1:60:00", NOT_A_DURATION),
        (":30", NOT_A_DURATION),
        ("1:", NOT_A_DURATION),
        ("1 : 30", NOT_A_DURATION),
        ("1:30:15:00", NOT_A_DURATION),
        ("-1:30", NOT_A_DURATION),
        ("\u0661h", NOT_A_DURATION),  # ARABIC-INDIC DIGIT ONE: a digit, not an ASCII one
        ("\u0663:\u0660\u0660", NOT_A_DURATION),
        ("\uff11h", NOT_A_DURATION),  # FULLWIDTH DIGIT ONE
        ("1h\u00a030m", NOT_A_DURATION),  # only ASCII space between the parts
        ("0.0001h", NOT_WHOLE),  # 0.36 s
        ("1.5s", NOT_WHOLE),
        ("0.01m", NOT_WHOLE),
        # 1.0000000000000000000000000000000008 s: a 28-digit Decimal context rounds it to 1.
        ("0.000277777777777777777777777777777778h", NOT_WHOLE),
        ("0s", BOUNDS),
        ("0h0m0s", BOUNDS),
        ("0:00", BOUNDS),
        ("24h1s", BOUNDS),
        ("86401s", BOUNDS),
        ("1441m", BOUNDS),
        ("24.5h", BOUNDS),
        ("25:00", BOUNDS),
        ("24:00:01", BOUNDS),
        ("99999999999999999999999999999999999999h", BOUNDS),
        ("100:00", NOT_A_DURATION),
        ("1" * (MAX_TEXT + 1), "Too long"),
        ("1" * 70 + "h", "Too long"),
        (" " * MAX_TEXT + "1h", "Too long"),
        ("1h" * 10_000, "Too long"),
    ],
)
def test_refused_with_a_helpful_message(text: str, says: str) -> None:
    refused = refusal(parse_duration, text)
    assert refused.field == ["input", "duration"]
    assert says in refused.message
    assert refused.message.endswith(ACCEPTED)


def test_refusal_names_the_field_it_is_given() -> None:
    refused = refusal(parse_duration, "90", field=("input", "task", "estimate"))
    assert refused.field == ["input", "task", "estimate"]


@pytest.mark.parametrize(
    ("seconds", "text", "clock"),
    [
        (0, "0s", "0:00:00"),
        (1, "1s", "0:00:01"),
        (45, "45s", "0:00:45"),
        (60, "1m", "0:01:00"),
        (5400, "1h30m", "1:30:00"),
        (5415, "1h30m15s", "1:30:15"),
        (7205, "2h5s", "2:00:05"),
        (86400, "24h", "24:00:00"),
    ],
)
def test_format(seconds: int, text: str, clock: str) -> None:
    assert format_duration(seconds) == text
    assert format_clock(seconds) == clock


def test_format_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(-1)


# --- hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2.5", 9000),
        ("1", 3600),
        ("0.5", 1800),
        ("0.25", 900),
        ("0.0025", 9),
        ("24", 86400),
        ("24.000", 86400),
        ("02.50", 9000),
        (" 2.5 ", 9000),
    ],
)
def test_hours(text: str, seconds: int) -> None:
    assert parse_hours(text) == seconds


@given(st.integers(min_value=1, max_value=2400))
def test_hundredths_of_hours_are_exact(hundredths: int) -> None:
    assert parse_hours(f"{hundredths // 100}.{hundredths % 100:02d}") == hundredths * 36


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", HOURS_ACCEPTED),
        ("2,5", HOURS_ACCEPTED),
        ("-1", HOURS_ACCEPTED),
        ("+1", HOURS_ACCEPTED),
        ("1e2", HOURS_ACCEPTED),
        ("1E-2", HOURS_ACCEPTED),
        ("NaN", HOURS_ACCEPTED),
        ("sNaN", HOURS_ACCEPTED),
        ("Infinity", HOURS_ACCEPTED),
        ("-Infinity", HOURS_ACCEPTED),
        ("1_000", HOURS_ACCEPTED),
        ("2.5h", HOURS_ACCEPTED),
        (".5", HOURS_ACCEPTED),
        ("\u0662", HOURS_ACCEPTED),  # Decimal would read it as 2
        ("1" * (MAX_TEXT + 1), "Too long"),
        ("0.0000001", NOT_WHOLE),
        ("0.000277777777777777777777777777777778", NOT_WHOLE),
        ("0", BOUNDS),
        ("24.01", BOUNDS),
        # Decimal(...) * 3600 in a 28-digit context gives 4E+63 for this, not the exact value.
        ("1" * 60, BOUNDS),
    ],
)
def test_bad_hours(text: str, says: str) -> None:
    refused = refusal(parse_hours, text)
    assert refused.field == ["input", "hours"]
    assert says in refused.message


# --- resolve_duration --------------------------------------------------------------------


def resolve(**given: Any) -> int:
    args: dict[str, Any] = {
        "duration_seconds": None,
        "minutes": None,
        "hours": None,
        "duration": None,
        "stopped_at": None,
        "started_at": START,
    }
    args.update(given)
    return resolve_duration(**args)


ALL_GIVEN: dict[str, Any] = {
    "duration_seconds": 60,
    "minutes": 2,
    "hours": "3",
    "duration": "4h",
    "stopped_at": START + timedelta(hours=5),
}


@pytest.mark.parametrize(
    ("left_out", "expected"),
    [
        ((), 60),
        (("duration_seconds",), 120),
        (("duration_seconds", "minutes"), 10800),
        (("duration_seconds", "minutes", "hours"), 14400),
        (("duration_seconds", "minutes", "hours", "duration"), 18000),
    ],
)
def test_first_given_wins(left_out: tuple[str, ...], expected: int) -> None:
    given = {k: v for k, v in ALL_GIVEN.items() if k not in left_out}
    assert resolve(**given) == expected


def test_later_ways_are_not_even_read() -> None:
    assert resolve(duration_seconds=60, minutes=0, hours="x", duration="90", stopped_at=START) == 60
    assert resolve(hours="1", duration="garbage", stopped_at=START - timedelta(hours=1)) == 3600


def test_an_invalid_first_way_does_not_fall_through() -> None:
    refused = refusal(resolve, duration_seconds=0, minutes=5)
    assert refused.field == ["input", "durationSeconds"]
    refused = refusal(resolve, hours="abc", duration="1h")
    assert refused.field == ["input", "hours"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"duration_seconds": 1}, 1),
        ({"duration_seconds": 86400}, 86400),
        ({"minutes": 1}, 60),
        ({"minutes": 1440}, 86400),
        ({"hours": "0.0025"}, 9),
        ({"hours": "24"}, 86400),
        ({"duration": "1s"}, 1),
        ({"duration": "24h"}, 86400),
        ({"duration": "1:30"}, 5400),
        ({"stopped_at": START + timedelta(seconds=1)}, 1),
        ({"stopped_at": START + timedelta(hours=24)}, 86400),
        # Instants are kept to the second: a part of a second is dropped, never rounded up.
        ({"stopped_at": START + timedelta(seconds=1, microseconds=999_999)}, 1),
        # An instant given with another offset is the same instant.
        ({"stopped_at": datetime(2025, 3, 10, 11, 30, tzinfo=timezone(timedelta(hours=2)))}, 1800),
    ],
)
def test_within_bounds(given: dict[str, Any], expected: int) -> None:
    assert resolve(**given) == expected


@pytest.mark.parametrize(
    ("given", "field", "says"),
    [
        ({"duration_seconds": 0}, "durationSeconds", BOUNDS),
        ({"duration_seconds": 86401}, "durationSeconds", BOUNDS),
        ({"duration_seconds": -1}, "durationSeconds", BOUNDS),
        ({"duration_seconds": 10**30}, "durationSeconds", BOUNDS),
        ({"minutes": 0}, "minutes", "between 1 and 1440"),
        ({"minutes": 1441}, "minutes", "between 1 and 1440"),
        ({"minutes": -60}, "minutes", "between 1 and 1440"),
        ({"hours": "0"}, "hours", BOUNDS),
        ({"hours": "24.01"}, "hours", BOUNDS),
        ({"hours": "1.5h"}, "hours", HOURS_ACCEPTED),
        ({"duration": "0s"}, "duration", BOUNDS),
        ({"duration": "24h1s"}, "duration", BOUNDS),
        ({"duration": "90"}, "duration", AMBIGUOUS),
        ({"stopped_at": START}, "stoppedAt", "after startedAt"),
        ({"stopped_at": START - timedelta(seconds=1)}, "stoppedAt", "after startedAt"),
        ({"stopped_at": START - timedelta(days=400)}, "stoppedAt", "after startedAt"),
        ({"stopped_at": START + timedelta(microseconds=1)}, "stoppedAt", BOUNDS),
        ({"stopped_at": START + timedelta(hours=24, seconds=1)}, "stoppedAt", BOUNDS),
        ({"stopped_at": START + timedelta(days=3650)}, "stoppedAt", BOUNDS),
    ],
)
def test_out_of_bounds(given: dict[str, Any], field: str, says: str) -> None:
    refused = refusal(resolve, **given)
    assert refused.field == ["input", field]
    assert says in refused.message


def test_nothing_given_lists_the_ways() -> None:
    refused = refusal(resolve)
    assert refused.field == ["input"]
    for name in ("durationSeconds", "minutes", "hours", "duration", "stoppedAt"):
        assert name in refused.message
