"""The live dashboard in headless Chromium (a browser in UTC), against real uvicorn processes:

- a timer started through the API appears on the page and ticks; stopped, it goes, and
  today's total for its user is shown;
- today's totals are the numbers of a ``timeReport`` over the team's day in the team's time
  zone (not the browser's), and the token survives a reload of the page (sessionStorage);
- when the server goes away and comes back, the page reconnects with the cursor of the last
  event it saw and shows the change logged while it was disconnected, once;
- a server that no longer has the events after that cursor (here: restored from a copy of
  its database taken before them) answers CURSOR_EXPIRED, and the page reads its state again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from store.db import Database
from tests.e2e.browser import browser as shared_browser
from tests.e2e.server import free_port, running_server
from tests.factories import Member, TeamWorld, make_team
from tests.gql.mutation_helpers import LOG, START, STOP

pytestmark = pytest.mark.e2e

# Zones whose date differs from UTC's for part of every day; at any hour one of them is at
# least two hours from its midnight, so the team's day cannot turn during a test.
TEAM_ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Tokyo")
MARGIN = timedelta(hours=2)
REPORT = """query($f: TimeEntryFilter!) { timeReport(filter: $f, groupBy: [USER]) {
  timeZone buckets { user { id } totalSeconds entryCount runningCount }
  totals { totalSeconds entryCount } } }"""


@contextmanager
def _browser() -> Iterator[Any]:
    # The browser's own day is UTC's, so a page that took "today" from it would show UTC's.
    browser = shared_browser(time_zone="UTC")
    try:
        assert browser.execute_script(
            "return Intl.DateTimeFormat().resolvedOptions().timeZone"
        ) in (
            "UTC",
            "Etc/UTC",
        )
        yield browser
    finally:
        browser.quit()


def _wait(browser: Any, what: str, check: Callable[[], Any], timeout: float = 15) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.wait import WebDriverWait

    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda _: check())
    except TimeoutException:
        status = _text(browser, "#status")
        raise AssertionError(
            f"timed out waiting for {what} (status {status!r}): {browser.get_log('browser')}"
        ) from None


def _text(browser: Any, selector: str) -> str | None:
    # One script call: the page re-renders every second, so element handles go stale.
    found: str | None = browser.execute_script(
        "const el = document.querySelector(arguments[0]); return el && el.innerText;", selector
    )
    return found


def _post(base: str, doc: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    r = httpx.post(
        base + "/graphql",
        json={"query": doc, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = r.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def _api(base: str, doc: str, data: dict[str, Any], token: str) -> dict[str, Any]:
    [payload] = _post(base, doc, {"input": data}, token).values()
    assert payload["userErrors"] == [], payload
    result: dict[str, Any] = payload
    return result


def _log(base: str, world: TeamWorld, who: Member, at: datetime, seconds: int) -> str:
    logged = _api(
        base,
        LOG,
        {
            "teamId": world.id,
            "taskId": world.tasks["T-1"],
            "startedAt": at.isoformat(),
            "durationSeconds": seconds,
        },
        who.token,
    )
    entry: str = logged["timeEntry"]["id"]
    return entry


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _open(browser: Any, base: str, world: TeamWorld, token: str) -> None:
    """Paste the token, pick the team, watch; returns once the page is live."""
    from selenium.webdriver.common.by import By

    browser.get(base + "/dashboard")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "load-teams").click()
    _wait(
        browser,
        "teams in the picker",
        lambda: browser.find_elements(By.CSS_SELECTOR, f"#team option[value='{world.id}']"),
    )
    browser.find_element(By.ID, "watch").click()
    _wait(browser, "a live connection", lambda: _text(browser, "#status") == "live")


def _drive_timer(base: str, world: TeamWorld) -> None:
    with _browser() as browser:
        _open(browser, base, world, world.owner.token)
        started = _api(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        entry = started["timeEntry"]["id"]
        row = f"#running tr[data-entry='{entry}']"
        shown = _wait(browser, "the timer on the page", lambda: _text(browser, row))
        assert "a Member" in shown and "Cursor paging" in shown
        first = _text(browser, row + " .elapsed")
        _wait(
            browser,
            "the timer to tick",
            lambda: _text(browser, row + " .elapsed") not in (None, first),
            timeout=30,
        )

        stopped = _api(base, STOP, {}, world.member.token)["timeEntry"]
        _wait(browser, "the timer to go", lambda: _text(browser, row) is None)
        total = f"#totals tr[data-user='{world.member.id}']"
        # The stopped entry's duration, once the debounced report has been read again.
        want = _hms(stopped["durationSeconds"])
        _wait(browser, "today's total", lambda: _text(browser, total + " .seconds") == want)
        assert "a Member" in (_text(browser, total) or "")


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_dashboard_shows_timers_live(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        await asyncio.to_thread(_drive_timer, base, world)


def _team_day(zone: str, now: datetime) -> tuple[datetime, datetime]:
    """The team's day around ``now``: its start and end as UTC instants."""
    local = now.astimezone(ZoneInfo(zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=ZoneInfo(zone))
    return start.astimezone(UTC), end.astimezone(UTC)


def _zone_far_from_midnight(now: datetime) -> str:
    for zone in TEAM_ZONES:
        start, end = _team_day(zone, now)
        if now - start >= MARGIN and end - now >= MARGIN:
            return zone
    raise AssertionError(f"no zone of {TEAM_ZONES} is two hours from its midnight at {now}")


def _drive_team_day(base: str, world: TeamWorld, zone: str) -> None:
    now = datetime.now(UTC)
    start, end = _team_day(zone, now)
    utc_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    utc_end = utc_start + timedelta(days=1)
    # The team's first minutes of today, and the last hour of its yesterday. One of them is
    # on the other side of UTC's midnight, so a page counting UTC's day would show otherwise.
    today_at, yesterday_at = start + timedelta(minutes=1), start - timedelta(hours=1)
    assert not utc_start <= today_at < utc_end or utc_start <= yesterday_at < utc_end
    _log(base, world, world.member, today_at, 1500)
    _log(base, world, world.owner, today_at, 600)
    _log(base, world, world.member, yesterday_at, 2400)

    # What the page must show: the API's report over the team's day.
    report = _post(
        base,
        REPORT,
        {"f": {"teamId": world.id, "from": start.isoformat(), "to": end.isoformat()}},
        world.owner.token,
    )["timeReport"]
    assert report["timeZone"] == zone
    by_user = {b["user"]["id"]: b for b in report["buckets"]}
    assert {u: (b["totalSeconds"], b["entryCount"]) for u, b in by_user.items()} == {
        world.member.id: (1500, 1),
        world.owner.id: (600, 1),
    }
    assert report["totals"] == {"totalSeconds": 2100, "entryCount": 2}

    def shows_the_report(browser: Any) -> None:
        today = start.astimezone(ZoneInfo(zone)).date().isoformat()
        _wait(browser, "the team's date", lambda: _text(browser, "#today") == f"{today} ({zone})")
        _wait(browser, "the totals", lambda: _text(browser, "#team-seconds") == _hms(2100))
        assert _text(browser, "#team-entries") == "2"
        for user, bucket in by_user.items():
            row = f"#totals tr[data-user='{user}']"
            assert _text(browser, row + " .seconds") == _hms(bucket["totalSeconds"])
            assert _text(browser, row + " .entries") == str(bucket["entryCount"])
        rows = browser.execute_script("return document.querySelectorAll('#totals tr').length")
        assert rows == len(by_user)
        # Everything the page loaded came from the server it was served by.
        origins = browser.execute_script(
            "return [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)]"
            ".map((u) => new URL(u).origin)"
        )
        assert set(origins) == {base}

    with _browser() as browser:
        _open(browser, base, world, world.owner.token)
        shows_the_report(browser)

        # A reload in the same tab keeps the token for the session, never for good.
        browser.refresh()
        _wait(browser, "a live connection again", lambda: _text(browser, "#status") == "live")
        assert browser.execute_script("return document.getElementById('token').value") == (
            world.owner.token
        )
        assert browser.execute_script("return sessionStorage.getItem('punchclock.token')") == (
            world.owner.token
        )
        assert browser.execute_script("return localStorage.length") == 0
        shows_the_report(browser)


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_dashboard_totals_are_the_report_of_the_teams_day(
    db: Database, database_url: str
) -> None:
    zone = _zone_far_from_midnight(datetime.now(UTC))
    world = await make_team(db, "Acme", prefix="a", time_zone=zone)
    with running_server(database_url) as base:
        await asyncio.to_thread(_drive_team_day, base, world, zone)


def _reports_read(browser: Any) -> int:
    """How many requests the page has made to the API over HTTP (each a report, once live)."""
    count: int = browser.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => e.initiatorType === 'fetch').length"
    )
    return count


def _drive_reconnect(database_url: str, world: TeamWorld) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=100)
    port = free_port()
    with _browser() as browser, running_server(database_url) as other:
        with running_server(database_url, port=port) as base:
            _open(browser, base, world, world.owner.token)
            before = _log(base, world, world.member, start, 300)
            row = f"#events tr[data-entry='{before}']"
            _wait(browser, "the first event", lambda: _text(browser, row))
            _wait(browser, "its total", lambda: _text(browser, "#team-seconds") == _hms(300))
        # The server is gone: the page notices and keeps trying the same address.
        _wait(browser, "the page to notice", lambda: _text(browser, "#status") != "live")
        missed = [
            _log(other, world, world.member, start + timedelta(minutes=m), 540)
            for m in (10, 20, 30)
        ]
        reports = _reports_read(browser)
        with running_server(database_url, port=port) as again:
            _wait(browser, "a live connection again", lambda: _text(browser, "#status") == "live")
            for entry in missed:
                shown = _wait(
                    browser,
                    "a missed event",
                    lambda e=entry: _text(browser, f"#events tr[data-entry='{e}']"),
                    30,
                )
                assert "LOGGED" in shown
            total = _hms(300 + 3 * 540)
            _wait(browser, "the totals with them", lambda: _text(browser, "#team-seconds") == total)
            # The three replayed events arrive together: one report (debounced), not three.
            assert 1 <= _reports_read(browser) - reports < len(missed)
            after = _log(again, world, world.owner, start + timedelta(minutes=60), 60)
            row = f"#events tr[data-entry='{after}']"
            _wait(browser, "a live event", lambda: _text(browser, row))
            entries = browser.execute_script(
                "return [...document.querySelectorAll('#events tr')].map((r) => r.dataset.entry)"
            )
            assert entries == [after, *reversed(missed), before]  # each once, newest first


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_dashboard_resumes_from_its_cursor_after_the_server_restarts(
    db: Database, database_url: str
) -> None:
    # A zone far from its midnight, so the entries half an hour back are on the team's day.
    zone = _zone_far_from_midnight(datetime.now(UTC))
    world = await make_team(db, "Acme", prefix="a", time_zone=zone)
    await asyncio.to_thread(_drive_reconnect, database_url, world)


def _drive_expired(database_url: str, restored_url: str, world: TeamWorld) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=100)
    port = free_port()
    with _browser() as browser:
        with running_server(database_url, port=port) as base:
            _open(browser, base, world, world.owner.token)
            lost = _log(base, world, world.member, start, 300)
            _wait(browser, "the event", lambda: _text(browser, f"#events tr[data-entry='{lost}']"))
            _wait(browser, "its total", lambda: _text(browser, "#team-seconds") == _hms(300))
        _wait(browser, "the page to notice", lambda: _text(browser, "#status") != "live")
        with running_server(restored_url, port=port) as again:
            # The restored server never had the page's last event: its totals are read again.
            _wait(
                browser, "the resynced totals", lambda: _text(browser, "#team-seconds") == _hms(0)
            )
            assert (_text(browser, "#totals") or "").strip() == "no time today"
            _wait(browser, "a live connection again", lambda: _text(browser, "#status") == "live")
            later = _log(again, world, world.owner, start + timedelta(minutes=10), 60)
            _wait(
                browser, "a live event", lambda: _text(browser, f"#events tr[data-entry='{later}']")
            )
            _wait(browser, "its total", lambda: _text(browser, "#team-seconds") == _hms(60))


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_dashboard_resyncs_when_its_cursor_has_expired(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    zone = _zone_far_from_midnight(datetime.now(UTC))
    world = await make_team(db, "Acme", prefix="a", time_zone=zone)
    restored = tmp_path / "restored.db"
    with (
        sqlite3.connect(database_url.removeprefix("sqlite:///")) as source,
        sqlite3.connect(restored) as copy,
    ):
        source.backup(copy)  # the team and its tokens, none of the events to come
    await asyncio.to_thread(_drive_expired, database_url, f"sqlite:///{restored}", world)


# Around DST changes (Santiago's spring change skips its midnight), and either side of UTC.
DAY_CASES = [
    ("Europe/Berlin", "2026-03-29T12:00:00+00:00"),
    ("Europe/Berlin", "2026-10-25T12:00:00+00:00"),
    ("America/New_York", "2026-11-01T12:00:00+00:00"),
    ("America/Santiago", "2026-09-06T12:00:00+00:00"),
    ("Australia/Lord_Howe", "2026-10-04T12:00:00+00:00"),
    ("Pacific/Kiritimati", "2026-12-01T10:30:00+00:00"),
    ("Pacific/Pago_Pago", "2026-12-01T10:30:00+00:00"),
]


def _page_days(base: str) -> list[list[str]]:
    with _browser() as browser:
        browser.get(base + "/dashboard")
        days: list[list[str]] = browser.execute_script(
            "return arguments[0].map(([zone, at]) => { const d = teamDay(zone, Date.parse(at));"
            " return [d.date, d.from.toISOString(), d.to.toISOString()]; })",
            DAY_CASES,
        )
        return days


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_the_pages_team_day_is_the_zones_day(database_url: str) -> None:
    with running_server(database_url) as base:
        days = await asyncio.to_thread(_page_days, base)
    expected = []
    for zone, at in DAY_CASES:
        start, end = _team_day(zone, datetime.fromisoformat(at))
        iso = "%Y-%m-%dT%H:%M:%S.000Z"
        local = start.astimezone(ZoneInfo(zone)).date().isoformat()
        expected.append([local, start.strftime(iso), end.strftime(iso)])
    assert days == expected
