"""Tenancy under a generated stream: two teams with the same name and the same category
and task keys; the owner of the first sends generated queries, mutations and
subscriptions that use the ids of both teams, while the second team's users keep working
in their own team. No id, name or value of the second team that the request did not
itself carry ever appears in a response or an event, and nothing of the second team
changes except what its own users did.

``PUNCHCLOCK_TENANCY_OPERATIONS`` sets how many generated HTTP operations run.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import from_schema
from sqlalchemy import select

from store.db import Database
from store.models import metadata
from tests.e2e.wsclient import GraphQLWS
from tests.factories import TeamWorld, make_team
from tests.reliability.harness import server_process
from tests.reliability.test_fuzz import SCHEMA, _scalars
from tests.services import IN_CI

pytestmark = pytest.mark.e2e

OPERATIONS = int(os.environ.get("PUNCHCLOCK_TENANCY_OPERATIONS", "400"))
# Adding a user of the second team to the first is allowed (by e-mail, by design) and
# then shows them to the first team: that is sharing, not a leak, so it is not generated.
ROOT_FIELDS = [
    *("category", "task", "team", "teams", "timeEntries", "timeEntry", "timeReport", "viewer"),
    *("addComment", "createCategory", "createTask", "createTeam", "deleteTimeEntry"),
    *("lockTeamEntries", "logTimeEntry", "startTimer", "stopTimer", "transitionTimeEntries"),
    *("updateCategory", "updateTask", "updateTeam", "updateTimeEntry"),
    *("logTimeEntries", "updateTimeEntries", "deleteTimeEntries"),
]
ENTRY_FIELDS = [
    "id", "description", "user { id nickname email }", "task { id key title }",
    "category { id key title }", "team { id name }", "comments { id content }",
    "startedAt", "running", "amountCents",
]  # fmt: skip


def _post(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]) -> Any:
    return client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )


async def _ok(client: httpx.AsyncClient, token: str, query: str, input: dict[str, Any]) -> Any:
    body = (await _post(client, token, query, {"input": input})).json()
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload
    return payload


LOG = "mutation($input: LogTimeEntryInput!) { logTimeEntry(input: $input) { userErrors { code } timeEntry { id } } }"
START = "mutation($input: StartTimerInput!) { startTimer(input: $input) { userErrors { code } timeEntry { id } } }"
COMMENT = "mutation($input: AddCommentInput!) { addComment(input: $input) { userErrors { code } comment { id } } }"
TASK = "mutation($input: CreateTaskInput!) { createTask(input: $input) { userErrors { code } task { id } } }"


class Secrets:
    """Everything of the second team that the first must never learn."""

    def __init__(self, other: TeamWorld) -> None:
        self.values: set[str] = {other.id, *other.tasks.values(), *other.categories.values()}
        for user in (other.owner, other.admin, other.member):
            self.values |= {user.id, user.email}
        self.values |= {"b Owner", "b Admin", "b Member"}

    def leaked(self, response: str, request: str) -> list[str]:
        return [s for s in self.values if s in response and s not in request]


async def _seed_other(client: httpx.AsyncClient, other: TeamWorld, secrets: Secrets) -> None:
    """The second team's own work, with values that exist nowhere else."""
    task = await _ok(
        client,
        other.owner.token,
        TASK,
        {"teamId": other.id, "key": "shared-key", "title": "b-secret-task-title"},
    )
    secrets.values |= {task["task"]["id"], "b-secret-task-title"}
    for n in range(5):
        entry = await _ok(
            client,
            other.member.token,
            LOG,
            {
                "teamId": other.id,
                "taskId": other.tasks["T-1"],
                "startedAt": f"2025-03-1{n}T09:00:00Z",
                "duration": "1h",
                "description": f"b-secret-description-{n}",
            },
        )
        comment = await _ok(
            client,
            other.owner.token,
            COMMENT,
            {"timeEntryId": entry["timeEntry"]["id"], "content": f"b-secret-comment-{n}"},
        )
        secrets.values |= {entry["timeEntry"]["id"], comment["comment"]["id"]}
        secrets.values |= {f"b-secret-description-{n}", f"b-secret-comment-{n}"}
    running = await _ok(
        client,
        other.admin.token,
        START,
        {"teamId": other.id, "taskId": other.tasks["T-2"], "description": "b-secret-running"},
    )
    secrets.values |= {running["timeEntry"]["id"], "b-secret-running"}


async def _keeps_working(
    base: str,
    team: TeamWorld,
    tag: str,
    created: set[str],
    stop: asyncio.Event,
    *,
    refusals_allowed: bool = False,
) -> None:
    """A team's member logs time all along, so its events flow during the stream. The
    stream's own team may be changed by the stream itself (its task closed, a period
    locked...): there a refused log is allowed; on the other team none is."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        n = 0
        while not stop.is_set():
            body = (
                await _post(
                    client,
                    team.member.token,
                    LOG,
                    {
                        "input": {
                            "teamId": team.id,
                            "taskId": team.tasks["T-2"],
                            "startedAt": f"2025-04-01T{n % 24:02d}:{n // 24 % 60:02d}:00Z",
                            "duration": "1m",
                            "description": f"{tag}-live-{n}",
                        }
                    },
                )
            ).json()
            payload = body["data"]["logTimeEntry"]
            if not refusals_allowed:
                assert payload["userErrors"] == [], payload
            if payload["timeEntry"] is not None:
                created.add(payload["timeEntry"]["id"])
            n += 1
            await asyncio.sleep(0.05)


async def _read_until_quiet(ws: GraphQLWS, box: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while True:
        try:
            box.append(await ws.receive(timeout=1))
        except TimeoutError:
            if stop.is_set():
                return


async def _rows_of(db: Database, team_id: str, skip_entries: Iterable[str] = ()) -> dict[str, Any]:
    """The second team's rows, table by table (entries its own users made meanwhile apart)."""
    skip = set(skip_entries)
    out: dict[str, Any] = {}
    async with db.engine.connect() as conn:
        tables = {t.name: t for t in metadata.sorted_tables}
        entries = tables["time_entries"]
        entry_ids = {
            r.id
            for r in (await conn.execute(select(entries).where(entries.c.team_id == team_id)))
            if r.id not in skip
        }
        for name in ("teams", "memberships", "categories", "tasks", "time_entries", "comments"):
            table = tables[name]
            if name == "teams":
                where = table.c.id == team_id
            elif name == "comments":
                where = table.c.time_entry_id.in_(entry_ids)
            elif name == "time_entries":
                where = table.c.id.in_(entry_ids)
            else:
                where = table.c.team_id == team_id
            rows = await conn.execute(select(table).where(where).order_by(*table.primary_key))
            out[name] = [tuple(r) for r in rows]
    return out


def _subscriptions(mine: TeamWorld, other: TeamWorld) -> list[dict[str, Any]]:
    """Subscription documents over both teams' ids and the entry fields that carry values."""
    teams = [mine.id, other.id, "01JZZZZZZZZZZZZZZZZZZZZZZZ"]
    users = [None, mine.owner.id, other.member.id, other.owner.id]
    out = []
    for i, team in enumerate(teams):
        for j, user in enumerate(users):
            selection = " ".join(ENTRY_FIELDS[(i + j) % 3 :: 2])
            out.append(
                {
                    "query": f"subscription($t: ID!, $u: ID) {{ timerEvents(teamId: $t, userId: $u) {{ kind timeEntry {{ {selection} }} }} }}",
                    "variables": {"t": team, "u": user},
                }
            )
        out.append(
            {
                "query": f"subscription($t: ID!) {{ runningTimers(teamId: $t) {{ {' '.join(ENTRY_FIELDS)} }} }}",
                "variables": {"t": team},
            }
        )
    # Inline ids and an aliased pair, as a client might write them.
    out.append(
        {
            "query": f'subscription {{ timerEvents(teamId: "{other.id}") {{ kind timeEntry {{ id description }} }} }}',
            "variables": {},
        }
    )
    return out


# Hypothesis notices the global `random` moving while it draws; here that is the event
# loop's clients in the main thread (the WebSockets and the writers), not the strategy.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@pytest.mark.parametrize("dialect", ["sqlite"])
async def test_a_generated_stream_never_shows_or_changes_another_team(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    mine = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Acme", prefix="b")  # same name, same category and task keys
    secrets = Secrets(other)
    created: set[str] = set()
    checked = {"responses": 0, "events": 0, "errors_on_other_team": 0}
    with server_process(database_url, tmp_path / "server.log") as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            await _ok(
                client,
                mine.owner.token,
                TASK,
                {"teamId": mine.id, "key": "shared-key", "title": "Mine"},
            )
            await _seed_other(client, other, secrets)
            # The detector sees the second team's values where they belong.
            own = await _post(
                client,
                other.owner.token,
                "query($f: TimeEntryFilter!) { timeEntries(filter: $f) { nodes { id description user { nickname email } comments { content } } } }",
                {"f": {"teamId": other.id}},
            )
            assert len(secrets.leaked(own.text, "")) > 10
        before = await _rows_of(db, other.id)
        ids = sorted(
            secrets.values
            - {"b Owner", "b Admin", "b Member"}
            - {s for s in secrets.values if "@" in s or s.startswith("b-secret")}
        )
        ids += [mine.id, *mine.tasks.values(), *mine.categories.values(), mine.member.id]

        subscriptions = _subscriptions(mine, other)
        sockets = []
        for start in range(0, len(subscriptions), 6):
            ws = await GraphQLWS.open(server.base, mine.owner.token)
            await ws.acked()
            ops = {}
            for sub in subscriptions[start : start + 6]:
                ops[await ws.subscribe(sub["query"], sub["variables"])] = sub
            sockets.append((ws, ops))
        stop = asyncio.Event()
        # Read the sockets all along: an unread client stops answering pings.
        inbox: list[list[dict[str, Any]]] = [[] for _ in sockets]
        readers = [
            asyncio.create_task(_read_until_quiet(ws, box, stop))
            for (ws, _), box in zip(sockets, inbox, strict=True)
        ]
        mine_created: set[str] = set()
        writers = [
            asyncio.create_task(_keeps_working(server.base, other, "b-secret", created, stop)),
            asyncio.create_task(
                _keeps_working(server.base, mine, "a", mine_created, stop, refusals_allowed=True)
            ),
        ]

        scalars = _scalars(ids)
        strategy = from_schema(SCHEMA, fields=ROOT_FIELDS, custom_scalars=scalars)
        token = mine.owner.token
        with httpx.Client(base_url=server.base, timeout=30) as sync_client:

            @settings(
                max_examples=OPERATIONS,
                database=None,
                deadline=None,
                derandomize=IN_CI,
                suppress_health_check=list(HealthCheck),
            )
            @given(document=strategy)
            def stream(document: str) -> None:
                response = sync_client.post(
                    "/graphql",
                    json={"query": document},
                    headers={"authorization": f"Bearer {token}"},
                )
                checked["responses"] += 1
                leaked = secrets.leaked(response.text, document)
                assert not leaked, (leaked, document, response.text)

            # In a thread: the event loop keeps reading the WebSockets meanwhile.
            started = time.monotonic()
            await asyncio.to_thread(stream)
        stop.set()
        await asyncio.gather(*writers)

        for reader in readers:
            await reader
        for (ws, ops), received in zip(sockets, inbox, strict=True):
            for message in received:
                sub = ops.get(message.get("id"), {})
                leaked = secrets.leaked(json.dumps(message), json.dumps(sub))
                assert not leaked, (leaked, sub, message)
                checked["events"] += 1
                if sub.get("variables", {}).get("t") == other.id or other.id in sub.get(
                    "query", ""
                ):
                    assert message["type"] in ("error", "complete") or (
                        message["type"] == "next" and message["payload"].get("errors")
                    ), (sub, message)
                    checked["errors_on_other_team"] += message["type"] != "complete"
            await ws.close()
        assert checked["events"] > len(subscriptions)  # the first team's events did flow

    after = await _rows_of(db, other.id, skip_entries=created)
    assert after == before, "the second team's data changed"
    elapsed = time.monotonic() - started
    print(
        f"tenancy: {checked['responses']} generated operations, {len(subscriptions)} "
        f"subscriptions ({checked['events']} messages, {checked['errors_on_other_team']} "
        f"refusals for the other team), {len(created)} writes by the other team meanwhile, "
        f"{len(secrets.values)} secret values watched, 0 leaks, 0 changes, {elapsed:.0f} s"
    )
    assert checked["responses"] >= OPERATIONS
