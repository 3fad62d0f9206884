"""The live dashboard in headless Chromium: a timer started through the API appears on the
page and ticks; stopped, it goes, and today's total for its user is shown."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from store.db import Database
from tests.e2e.server import running_server
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import START, STOP
from tests.services import IN_CI

pytestmark = pytest.mark.e2e

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _browser() -> Any:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        message = "chromium and chromedriver are needed (Debian packages chromium, chromium-driver)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='pc-chromium-')}")
    return webdriver.Chrome(service=Service(driver), options=options)


def _wait(what: str, check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _api(base: str, doc: str, data: dict[str, Any], token: str) -> dict[str, Any]:
    r = httpx.post(
        base + "/graphql",
        json={"query": doc, "variables": {"input": data}},
        headers={"authorization": f"Bearer {token}"},
    )
    [payload] = r.json()["data"].values()
    assert payload["userErrors"] == [], payload
    result: dict[str, Any] = payload
    return result


def _drive(base: str, world: TeamWorld) -> None:
    from selenium.webdriver.common.by import By

    browser = _browser()
    try:
        browser.get(base + "/dashboard")
        browser.find_element(By.ID, "token").send_keys(world.owner.token)
        browser.find_element(By.ID, "load-teams").click()
        _wait(
            "teams in the picker",
            lambda: browser.find_elements(By.CSS_SELECTOR, f"#team option[value='{world.id}']"),
        )
        browser.find_element(By.ID, "watch").click()
        try:
            _wait("a live connection", lambda: browser.find_element(By.ID, "status").text == "live")
        except AssertionError:
            print("status:", browser.find_element(By.ID, "status").text, browser.get_log("browser"))
            raise

        def text_of(selector: str) -> str | None:
            # One script call: the page re-renders every second, so element handles go stale.
            found: str | None = browser.execute_script(
                "const el = document.querySelector(arguments[0]); return el && el.innerText;",
                selector,
            )
            return found

        started = _api(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        entry = started["timeEntry"]["id"]
        row = f"#running tr[data-entry='{entry}']"
        shown = _wait("the timer on the page", lambda: text_of(row))
        assert "a Member" in shown and "Cursor paging" in shown
        first = text_of(row + " .elapsed")
        _wait(
            "the timer to tick", lambda: text_of(row + " .elapsed") not in (None, first), timeout=30
        )

        _api(base, STOP, {}, world.member.token)
        _wait("the timer to go", lambda: text_of(row) is None)
        total = _wait(
            "today's total", lambda: text_of(f"#totals tr[data-user='{world.member.id}']")
        )
        assert "a Member" in total
    finally:
        browser.quit()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_dashboard_shows_timers_live(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        await asyncio.to_thread(_drive, base, world)
