"""GraphiQL in headless Chromium with every host but this machine out of reach: it loads
from Punchclock alone, takes a token (kept for the tab's session), runs a query and a
subscription, and opens the documentation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from store.db import Database
from tests.e2e.browser import browser, wait_for
from tests.e2e.server import metric, running_server
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import START

pytestmark = pytest.mark.e2e

EXECUTE = "button[aria-label='Execute query (Ctrl-Enter)']"


def _set_query(driver: Any, document: str) -> None:
    driver.execute_script(
        "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(arguments[0])",
        document,
    )


SCHEMA_LOADED = (
    "const cm = document.querySelector('.graphiql-query-editor .CodeMirror');"
    "return !!(cm && cm.CodeMirror.options.hintOptions && cm.CodeMirror.options.hintOptions.schema);"
)


def _execute(driver: Any, what: str, done: Callable[[], bool]) -> None:
    """Press GraphiQL's run button until ``done``: GraphiQL takes in an edit of the editor
    a moment after it happens, and a press before that runs nothing (nor fails)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(5):
        try:
            driver.find_element(By.CSS_SELECTOR, EXECUTE).click()
        except StaleElementReferenceException:  # React re-rendered the toolbar meanwhile
            continue
        try:
            wait_for(what, done, timeout=5)
            return
        except AssertionError:
            continue
    raise AssertionError(f"GraphiQL never showed {what}")


def _result(driver: Any) -> str:
    text: str = driver.execute_script(
        "const el = document.querySelector('.result-window .CodeMirror');"
        "return el ? el.CodeMirror.getValue() : '';"
    )
    return text


def _hosts(driver: Any) -> set[str]:
    """Every host:port the page asked for (HTTP requests and WebSockets)."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
        elif message["method"] == "Network.webSocketCreated":
            url = params["url"]
        else:
            continue
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss"):
            hosts.add(parts.netloc)
    return hosts


def _drive(base: str, world: TeamWorld) -> None:
    from selenium.webdriver.common.by import By

    driver = browser(offline=True, log_requests=True)
    try:
        driver.set_window_size(1400, 900)
        driver.get(base + "/graphql")
        wait_for("GraphiQL's editor", lambda: driver.find_elements(By.CSS_SELECTOR, EXECUTE))
        driver.find_element(By.ID, "punchclock-token").send_keys(world.owner.token)
        assert driver.find_element(By.ID, "punchclock-token-state").text == "set"

        wait_for("the schema", lambda: driver.execute_script(SCHEMA_LOADED))
        _set_query(driver, "{ viewer { id nickname } }")
        _execute(driver, "the query's answer", lambda: world.owner.id in _result(driver))
        assert json.loads(_result(driver))["data"] == {
            "viewer": {"id": world.owner.id, "nickname": "a Owner"}
        }

        _set_query(
            driver,
            f'subscription {{ timerEvents(teamId: "{world.id}") {{ kind timeEntry {{ id }} }} }}',
        )
        _execute(
            driver,
            "the subscription on the server",
            lambda: asyncio.run(metric(base, "punchclock_live_subscriptions")) == 1,
        )
        started = httpx.post(
            base + "/graphql",
            json={
                "query": START,
                "variables": {"input": {"teamId": world.id, "taskId": world.tasks["T-1"]}},
            },
            headers={"authorization": f"Bearer {world.member.token}"},
        ).json()["data"]["startTimer"]["timeEntry"]["id"]
        event = wait_for("the timer event", lambda: started in _result(driver) and _result(driver))
        assert json.loads(event)["data"]["timerEvents"] == {
            "kind": "STARTED",
            "timeEntry": {"id": started},
        }

        # The token outlives a reload: it is kept for the tab's session.
        driver.refresh()
        wait_for("GraphiQL again", lambda: driver.find_elements(By.CSS_SELECTOR, EXECUTE))
        kept = driver.find_element(By.ID, "punchclock-token").get_attribute("value")
        assert kept == world.owner.token
        assert driver.execute_script("return localStorage.getItem('punchclock.token')") is None

        driver.find_element(
            By.CSS_SELECTOR, "button[aria-label='Show Documentation Explorer']"
        ).click()
        explorer = ".graphiql-doc-explorer"
        wait_for(
            "the docs",
            lambda: "Root Types" in (driver.find_element(By.CSS_SELECTOR, explorer).text),
        )
        driver.find_element(
            By.CSS_SELECTOR, f"{explorer} a.graphiql-doc-explorer-type-name"
        ).click()
        wait_for(
            "Query's fields",
            lambda: "timeEntries" in driver.find_element(By.CSS_SELECTOR, explorer).text,
        )

        assert _hosts(driver) == {urlsplit(base).netloc}
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()


@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_graphiql_offline_with_token_query_subscription_and_docs(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        await asyncio.to_thread(_drive, base, world)
