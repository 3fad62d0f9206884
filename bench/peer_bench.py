"""Punchclock side by side with PostGraphile 5 and the hand-written baseline, in one run.

    python bench/peer_bench.py                                # both databases, 1M entries
    python bench/peer_bench.py --entries 100000 --seconds 5 --keep
    python bench/peer_bench.py --dialect postgresql --only root,log,start

Seeds 1,000,000 entries as ``bench/api_bench.py`` does (``bench/seeding.py``: 10 teams of 20
members, entries over 2025), gives 16 members of the measured team a token each, and copies
that seed for the run (a PostgreSQL template copy; a file copy on SQLite), so that every run
starts from the same rows. In the copy, the seed's year-old timers are stopped as the
server's 24-hour sweep would stop them, and every member of the team gets a timer running
since 20 to 40 minutes ago. Then, each on its own port, one process each:

- Punchclock: ``punchclock serve`` (uvicorn, one worker; the timer sweep and the webhook
  deliverer on, as in production);
- PostGraphile 5 (PostgreSQL only): installed from npm into ``--peer-dir`` (outside the
  repository) unless it is there, amber preset, ``NODE_ENV=production``, on the same
  database; Node 20 gets a ``Promise.withResolvers`` polyfill through ``NODE_OPTIONS``;
- the baseline (PostgreSQL only): ``bench/baseline_app.py``.

Each server's answer is checked once before it is measured (status 200, no ``errors``,
lists of the expected size, no ``userErrors``; Punchclock and the baseline must give the
same page ids, the same dashboard and the same report buckets). Then ``wrk`` runs a
warm-up and a timed run against each server that has an equivalent:

- reads, ``-t1 -c16``, requests per second: the 100 newest entries of the team with user,
  task and the task's category, at the root (also with each entry's tags, read through
  ``entry_tags``: PostGraphile's ``entryTagsByEntryId``), under ``team``, under
  ``viewer``; a dashboard
  of small lists; a one-month ``timeReport`` (the baseline only: PostGraphile has none);
- writes, ``-t16 -c16`` with one member's token per thread, rows written per second
  (counted in the database before and after, not from the answers): ``logTimeEntry``,
  ``startTimer``, ``startTimer`` and ``stopTimer`` in turn, ``updateTimeEntry``,
  ``addComment``, ``transitionTimeEntries`` (DRAFT to SUBMITTED, each entry once), and
  replays (the same body with the same idempotency key, again and again) of
  ``logTimeEntry`` and ``startTimer``, in answers per second. Every write is compared with
  PostGraphile's plain ``createTimeEntry`` and the baseline's plain insert, measured once
  with the same load. Logs go into 2010, which no read looks at; reads run before writes.

``--dialect both`` (the default) runs Punchclock on a seeded SQLite file too and adds its
figures and the ratio SQLite / PostgreSQL. Prints one markdown table with the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api_bench import (
    LIST_QUERY,
    ROOT,
    WRITE_QUERY,
    free_port,
    launch,
    require_wrk,
    seed,
    start,
    stop,
    wrk,
)
from bench.baseline_app import sqlite_sql
from bench.seeding import COLUMNS, clone_pg_database, drop_pg_database, sqlite_value

from store import tokens
from store.db import Database
from store.ids import new_id
from store.timeutil import utcnow

PEER_DIR = Path(os.environ.get("PUNCHCLOCK_PEER_DIR", "/tmp/punchclock-peer"))
POLYFILL = "promise-with-resolvers.cjs"
# Our own few lines: Node 22 has Promise.withResolvers, Node 20 (Debian's) does not.
POLYFILL_JS = """\
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
"""
SEED_PG, RUN_PG = "punchclock_peer_seed", "punchclock_peer_run"
SQLITE_DIR = Path(tempfile.gettempdir()) / "punchclock-peer-bench"
WRITERS = 16  # wrk threads (and connections) for writes: one member each
READ_CONNECTIONS = 16
WRITE_YEAR = 2010  # logs go here: no read looks at it
UPDATE_WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC))
REPORT_MONTH = (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
TRANSITION_WINDOW = (datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
SETTLE = 1.0  # seconds for the writes in flight when wrk stops to commit
POOL_PER_USER = 2000  # entry ids per thread for updates, comments and transitions
GOAL_READ, GOAL_WRITE, GOAL_SQLITE = 1.5, 0.6, 0.8

# -- the documents ----------------------------------------------------------------------

NODE = (
    "id startedAt stoppedAt durationSeconds billable description user { id nickname } "
    "task { id title category { id title } }"
)
PG_NODE = (
    "rowId startedAt stoppedAt durationSeconds billable description "
    "userByUserId { rowId nickname } taskByTaskId { rowId title categoryByCategoryId "
    "{ rowId title } }"
)
PG_ORDER = "orderBy: [STARTED_AT_DESC, PRIMARY_KEY_DESC]"
# The root page with each entry's tags (issue 20): a to-many relation through entry_tags.
TAGS_PAGE = (
    "query($teamId: ID!) { timeEntries(filter: {teamId: $teamId}, first: 100) { nodes { "
    f"{NODE} tags {{ id name }} }} }} }}"
)
TEAM_PAGE = (
    f"query($teamId: ID!) {{ team(id: $teamId) {{ timeEntries(first: 100) {{ nodes {{ {NODE} "
    "} } } }"
)
VIEWER_PAGE = f"query {{ viewer {{ timeEntries(first: 100) {{ nodes {{ {NODE} }} }} }} }}"
DASHBOARD = (
    "query($teamId: ID!) { viewer { id nickname runningEntry { id startedAt task { title } } } "
    "team(id: $teamId) { name members { role user { id nickname } } runningEntries { id "
    "startedAt user { nickname } } categories { id title } } }"
)
REPORT = (
    "query($teamId: ID!, $from: DateTime!, $to: DateTime!) { timeReport(filter: {teamId: "
    "$teamId, from: $from, to: $to}, groupBy: [USER, WEEK]) { buckets { user { id nickname } "
    "week totalSeconds totalCents } totals { totalSeconds } } }"
)
PG_ROOT_PAGE = (
    f"query($t: String!) {{ allTimeEntries(condition: {{teamId: $t}}, first: 100, {PG_ORDER}) "
    f"{{ nodes {{ {PG_NODE} }} }} }}"
)
PG_TAGS_PAGE = (
    f"query($t: String!) {{ allTimeEntries(condition: {{teamId: $t}}, first: 100, {PG_ORDER}) "
    f"{{ nodes {{ {PG_NODE} entryTagsByEntryId {{ nodes {{ tagByTagId {{ rowId name }} }} }} "
    "} } }"
)
PG_TEAM_PAGE = (
    f"query($t: String!) {{ teamByRowId(rowId: $t) {{ timeEntriesByTeamId(first: 100, "
    f"{PG_ORDER}) {{ nodes {{ {PG_NODE} }} }} }} }}"
)
PG_USER_PAGE = (
    f"query($u: String!) {{ userByRowId(rowId: $u) {{ timeEntriesByUserId(first: 100, "
    f"{PG_ORDER}) {{ nodes {{ {PG_NODE} }} }} }} }}"
)
# PostGraphile's condition offers indexed columns only, not stopped_at IS NULL: the
# viewer's newest entry stands for the running one and the team's N newest entries for
# the N running ones (in this data they are: the timers started minutes ago).
PG_DASHBOARD = (
    "query($u: String!, $t: String!, $n: Int!) { userByRowId(rowId: $u) { rowId nickname "
    f"timeEntriesByUserId(first: 1, {PG_ORDER}) {{ nodes {{ rowId startedAt stoppedAt "
    "taskByTaskId { title } } } } teamByRowId(rowId: $t) { name membershipsByTeamId { nodes "
    "{ role userByUserId { rowId nickname } } } "
    f"timeEntriesByTeamId(first: $n, {PG_ORDER}) {{ nodes {{ rowId startedAt stoppedAt "
    "userByUserId { nickname } } } categoriesByTeamId { nodes { rowId title } } } }"
)
PG_CREATE = (
    "mutation($e: TimeEntryInput!) { createTimeEntry(input: {timeEntry: $e}) { timeEntry "
    "{ rowId } } }"
)
ERRORS = "userErrors { code field message }"
START = f"mutation($i: StartTimerInput!) {{ startTimer(input: $i) {{ timeEntry {{ id }} stoppedEntry {{ id }} replayed {ERRORS} }} }}"  # noqa: E501
STOP = f"mutation($i: StopTimerInput!) {{ stopTimer(input: $i) {{ timeEntry {{ id }} replayed {ERRORS} }} }}"  # noqa: E501
UPDATE = f"mutation($i: UpdateTimeEntryInput!) {{ updateTimeEntry(input: $i) {{ timeEntry {{ id version }} replayed {ERRORS} }} }}"  # noqa: E501
COMMENT = f"mutation($i: AddCommentInput!) {{ addComment(input: $i) {{ comment {{ id }} replayed {ERRORS} }} }}"  # noqa: E501
TRANSITION = f"mutation($i: TransitionTimeEntriesInput!) {{ transitionTimeEntries(input: $i) {{ timeEntries {{ id status }} replayed {ERRORS} }} }}"  # noqa: E501

# -- how rows written are counted (PostgreSQL's placeholders; $1 is the team) --------------

COUNTS: dict[str, str] = {
    "logged": "SELECT count(*) FROM time_entries WHERE team_id = $1 AND started_at >= $2 "
    "AND started_at < $3",
    "started": "SELECT count(*) FROM time_entries WHERE team_id = $1 AND started_at >= $2",
    "stopped": "SELECT count(*) FROM time_entries WHERE team_id = $1 AND started_at >= $2 "
    "AND stopped_at IS NOT NULL",
    "versions": "SELECT coalesce(sum(version), 0) FROM time_entries WHERE team_id = $1 "
    "AND started_at >= $2 AND started_at < $3",
    "comments": "SELECT count(*) FROM comments WHERE team_id = $1",
    "submitted": "SELECT count(*) FROM time_entries WHERE team_id = $1 AND status = "
    "'SUBMITTED' AND started_at >= $2 AND started_at < $3",
}
POOL_SQL = """SELECT user_id, id FROM time_entries WHERE team_id = $1 AND status = 'DRAFT'
AND deleted_at IS NULL AND started_at >= $2 AND started_at < $3 ORDER BY started_at, id"""

# -- wrk's script ---------------------------------------------------------------------------

# Markers in a body: @KEY@ a fresh idempotency key, @ULID@ a fresh id, @START@ / @STOP@ /
# @DATE@ an hour in WRITE_YEAR, @NOW@, @ENTRY@ the next entry of the thread's pool, @USER@
# and @TASK@ the thread's member and task. With ``fixed`` the first body is filled once per
# thread and sent again and again (reads; replays, with the thread's own key).
LUA = """\
-- written by bench/peer_bench.py: %(title)s
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local templates = {%(templates)s}
local tokens = {%(tokens)s}
local users = {%(users)s}
local tasks = {%(tasks)s}
local pools = {%(pools)s}
local fixed = %(fixed)s
local alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
local run, counter, position, pool, request_text = "x", 0, 0, {}, nil
local created = 0

function setup(thread)
  created = created + 1
  thread:set("index", created)
end

function init(args)
  run = args[1]
  math.randomseed(tonumber(args[2]) + 7919 * index)
  math.random()
  if tokens[index] then
    wrk.headers["Authorization"] = "Bearer " .. tokens[index]
  end
  pool = pools[index] or {}
end

local function ulid()
  local chars = {}
  local n = math.random(1, 8)
  chars[1] = string.sub(alphabet, n, n)
  for i = 2, 26 do
    n = math.random(1, 32)
    chars[i] = string.sub(alphabet, n, n)
  end
  return table.concat(chars)
end

local function fill(template)
  local cache = {}
  return (string.gsub(template, "@(%%u+)@", function(name)
    local value = cache[name]
    if value ~= nil then
      return value
    end
    if name == "KEY" then
      value = run .. "-" .. index .. "-" .. counter .. "-" .. math.random(1, 1000000000)
    elseif name == "ULID" then
      value = ulid()
    elseif name == "START" or name == "STOP" or name == "DATE" then
      local m, d, h = math.random(1, 12), math.random(1, 28), math.random(0, 22)
      local mi, s = math.random(0, 59), math.random(0, 59)
      cache.START = string.format("%(year)d-%%02d-%%02dT%%02d:%%02d:%%02dZ", m, d, h, mi, s)
      cache.STOP = string.format("%(year)d-%%02d-%%02dT%%02d:%%02d:%%02dZ", m, d, h + 1, mi, s)
      cache.DATE = string.format("%(year)d-%%02d-%%02d", m, d)
      value = cache[name]
    elseif name == "NOW" then
      value = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ")
    elseif name == "ENTRY" then
      position = position %% #pool + 1
      value = pool[position]
    elseif name == "USER" then
      value = users[index]
    elseif name == "TASK" then
      value = tasks[index]
    end
    cache[name] = value
    return value
  end))
end

function request()
  counter = counter + 1
  if fixed then
    if request_text == nil then
      request_text = wrk.format(nil, nil, nil, fill(templates[1]))
    end
    return request_text
  end
  return wrk.format(nil, nil, nil, fill(templates[(counter - 1) %% #templates + 1]))
end
"""


def lua_text(value: str) -> str:
    assert "]==]" not in value
    return f"[==[{value}]==]"


def lua_list(values: Iterable[str]) -> str:
    return ", ".join(lua_text(v) for v in values)


# -- shapes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One body (with markers) and what its answer must hold: dotted path -> an int (the
    length of a list), "some" (present and not empty), or a value."""

    body: dict[str, Any]
    expect: dict[str, Any]


@dataclass(frozen=True)
class Target:
    path: str
    calls: tuple[Call, ...]  # taken in turn by each connection
    fixed: bool = False  # the first body again and again (a read, or a replay)
    pool: tuple[datetime, datetime] | None = None  # @ENTRY@: DRAFT entries started there
    tokens: bool = True  # send the thread's bearer token
    answer: str = ""  # dotted path of the list compared across servers


@dataclass(frozen=True)
class Shape:
    key: str  # for --only
    title: str
    kind: str  # "read", "write", "replay" or "floor" (the peers' plain insert)
    targets: dict[str, Target]
    rows: tuple[str, ...] = ()  # COUNTS whose growth is the rows written
    compare: str = ""  # "ids": the same node ids; "equal": the same data (Punchclock, baseline)
    fresh: str = ""  # a replay: the fresh write it must keep up with

    @property
    def threads(self) -> int:
        return 1 if self.kind == "read" else WRITERS


@dataclass
class Context:
    """What one dialect's run needs to know."""

    dialect: str
    url: str
    team: str
    users: list[str]  # WRITERS members; the first is the team's owner
    tokens: list[str]
    tasks: list[str]
    members: int
    running: int
    categories: int
    since: datetime  # every timer started by this run starts after it
    urls: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    requests: float = 0.0  # per second, from wrk
    rows: int | None = None  # written during the timed run
    seconds: int = 0
    error: str = ""

    @property
    def rows_per_second(self) -> float:
        """Rows written, but no more than wrk's answers: the requests still in flight when
        wrk stops (up to one per connection) are written after its count ends."""
        if self.rows is None:
            return 0.0
        return min(self.rows, self.requests * self.seconds) / self.seconds


def shapes(ctx: Context) -> list[Shape]:
    t = ctx.team
    month = {"from": REPORT_MONTH[0].isoformat(), "to": REPORT_MONTH[1].isoformat()}
    log_input = {
        "teamId": t,
        "taskId": "@TASK@",
        "startedAt": "@START@",
        "durationSeconds": 3600,
        "description": "bench",
        "idempotencyKey": "@KEY@",
    }
    logged = {"data.logTimeEntry.userErrors": 0, "data.logTimeEntry.timeEntry.id": "some"}
    start_input = {"teamId": t, "taskId": "@TASK@", "idempotencyKey": "@KEY@"}
    started = {"data.startTimer.userErrors": 0, "data.startTimer.timeEntry.id": "some"}
    stopped = {"data.stopTimer.userErrors": 0, "data.stopTimer.timeEntry.id": "some"}

    def read(path: str, query: str | None, variables: dict[str, Any], answer: str) -> Target:
        """A page of 100 at ``answer``."""
        body: dict[str, Any] = {"variables": variables}
        if query is not None:
            body["query"] = query
        return Target(path, (Call(body, {answer: 100}),), fixed=True, answer=answer)

    def pg(query: str, variables: dict[str, Any], expect: dict[str, Any], answer: str) -> Target:
        body = {"query": query, "variables": variables}
        return Target("/graphql", (Call(body, expect),), fixed=True, tokens=False, answer=answer)

    def write(
        query: str,
        payload: str,
        variables: dict[str, Any],
        expect: dict[str, Any],
        *,
        fixed: bool = False,
        pool: tuple[datetime, datetime] | None = None,
    ) -> Target:
        if fixed:
            expect = {**expect, f"data.{payload}.replayed": True}
        body = {"query": query, "variables": {"i": variables}}
        return Target("/graphql", (Call(body, expect),), fixed=fixed, pool=pool)

    dashboard = {
        "data.viewer.runningEntry.id": "some",
        "data.team.members": ctx.members,
        "data.team.runningEntries": ctx.running,
        "data.team.categories": ctx.categories,
    }
    pg_dashboard = {
        "data.userByRowId.timeEntriesByUserId.nodes": 1,
        "data.teamByRowId.membershipsByTeamId.nodes": ctx.members,
        "data.teamByRowId.timeEntriesByTeamId.nodes": ctx.running,
        "data.teamByRowId.categoriesByTeamId.nodes": ctx.categories,
    }
    created = {
        "rowId": "@ULID@",
        "teamId": t,
        "userId": "@USER@",
        "scopeType": "TASK",
        "taskId": "@TASK@",
        "startedAt": "@START@",
        "stoppedAt": "@STOP@",
        "durationSeconds": 3600,
        "workDate": "@DATE@",
        "description": "bench",
        "billable": True,
        "rateSnapshotCents": 0,
        "status": "DRAFT",
        "inputType": "MANUAL",
        "source": "API",
        "createdAt": "@NOW@",
        "updatedAt": "@NOW@",
        "version": 1,
    }
    return [
        Shape(
            "root",
            "root page: `timeEntries(filter: {teamId}, first: 100)`",
            "read",
            {
                "punchclock": read("/graphql", LIST_QUERY, {"teamId": t}, "data.timeEntries.nodes"),
                "postgraphile": pg(
                    PG_ROOT_PAGE,
                    {"t": t},
                    {"data.allTimeEntries.nodes": 100},
                    "data.allTimeEntries.nodes",
                ),
                "baseline": read("/list", None, {"teamId": t}, "data.timeEntries.nodes"),
            },
            compare="ids",
        ),
        Shape(
            "tags",
            "the root page selecting each entry's `tags { id name }`",
            "read",
            {
                "punchclock": read("/graphql", TAGS_PAGE, {"teamId": t}, "data.timeEntries.nodes"),
                "postgraphile": pg(
                    PG_TAGS_PAGE,
                    {"t": t},
                    {"data.allTimeEntries.nodes": 100},
                    "data.allTimeEntries.nodes",
                ),
            },
            compare="ids",
        ),
        Shape(
            "team",
            "the same page under `team(id)`",
            "read",
            {
                "punchclock": read(
                    "/graphql", TEAM_PAGE, {"teamId": t}, "data.team.timeEntries.nodes"
                ),
                "postgraphile": pg(
                    PG_TEAM_PAGE,
                    {"t": t},
                    {"data.teamByRowId.timeEntriesByTeamId.nodes": 100},
                    "data.teamByRowId.timeEntriesByTeamId.nodes",
                ),
                "baseline": read("/team-page", None, {"teamId": t}, "data.team.timeEntries.nodes"),
            },
            compare="ids",
        ),
        Shape(
            "viewer",
            "the viewer's page under `viewer`",
            "read",
            {
                "punchclock": read("/graphql", VIEWER_PAGE, {}, "data.viewer.timeEntries.nodes"),
                "postgraphile": pg(
                    PG_USER_PAGE,
                    {"u": ctx.users[0]},
                    {"data.userByRowId.timeEntriesByUserId.nodes": 100},
                    "data.userByRowId.timeEntriesByUserId.nodes",
                ),
                "baseline": read("/user-page", None, {}, "data.viewer.timeEntries.nodes"),
            },
            compare="ids",
        ),
        Shape(
            "dashboard",
            "dashboard: viewer, running entry, team, members, running entries, categories",
            "read",
            {
                "punchclock": Target(
                    "/graphql",
                    (Call({"query": DASHBOARD, "variables": {"teamId": t}}, dashboard),),
                    fixed=True,
                ),
                "postgraphile": pg(
                    PG_DASHBOARD,
                    {"u": ctx.users[0], "t": t, "n": ctx.running},
                    pg_dashboard,
                    "data.teamByRowId.timeEntriesByTeamId.nodes",
                ),
                "baseline": Target(
                    "/dashboard", (Call({"variables": {"teamId": t}}, dashboard),), fixed=True
                ),
            },
            compare="equal",
        ),
        Shape(
            "report",
            "`timeReport(groupBy: [USER, WEEK])` over June 2025",
            "read",
            {
                "punchclock": Target(
                    "/graphql",
                    (
                        Call(
                            {"query": REPORT, "variables": {"teamId": t, **month}},
                            {"data.timeReport.buckets": "some"},
                        ),
                    ),
                    fixed=True,
                ),
                "baseline": Target(
                    "/report",
                    (
                        Call(
                            {"variables": {"teamId": t, **month}},
                            {"data.timeReport.buckets": "some"},
                        ),
                    ),
                    fixed=True,
                ),
            },
            compare="equal",
        ),
        Shape(
            "createTimeEntry",
            "PostGraphile's plain `createTimeEntry`",
            "floor",
            {
                "postgraphile": Target(
                    "/graphql",
                    (
                        Call(
                            {"query": PG_CREATE, "variables": {"e": created}},
                            {"data.createTimeEntry.timeEntry.rowId": "some"},
                        ),
                    ),
                    tokens=False,
                )
            },
            rows=("logged",),
        ),
        Shape(
            "insert",
            "the baseline's plain insert",
            "floor",
            {
                "baseline": Target(
                    "/write",
                    (Call({"variables": log_input}, {"data.logTimeEntry.userErrors": 0}),),
                )
            },
            rows=("logged",),
        ),
        Shape(
            "log",
            "`logTimeEntry` (fresh key)",
            "write",
            {"punchclock": write(WRITE_QUERY, "logTimeEntry", log_input, logged)},
            rows=("logged",),
        ),
        Shape(
            "log-replay",
            "`logTimeEntry` replayed (same body, same key)",
            "replay",
            {"punchclock": write(WRITE_QUERY, "logTimeEntry", log_input, logged, fixed=True)},
            rows=("logged",),
            fresh="log",
        ),
        Shape(
            "update",
            "`updateTimeEntry` (description, no expectedVersion)",
            "write",
            {
                "punchclock": write(
                    UPDATE,
                    "updateTimeEntry",
                    {"id": "@ENTRY@", "description": "edited @KEY@", "idempotencyKey": "@KEY@"},
                    {"data.updateTimeEntry.userErrors": 0},
                    pool=UPDATE_WINDOW,
                )
            },
            rows=("versions",),
        ),
        Shape(
            "comment",
            "`addComment`",
            "write",
            {
                "punchclock": write(
                    COMMENT,
                    "addComment",
                    {"timeEntryId": "@ENTRY@", "content": "note @KEY@", "idempotencyKey": "@KEY@"},
                    {"data.addComment.userErrors": 0, "data.addComment.comment.id": "some"},
                    pool=UPDATE_WINDOW,
                )
            },
            rows=("comments",),
        ),
        Shape(
            "transition",
            "`transitionTimeEntries` DRAFT to SUBMITTED (one entry each)",
            "write",
            {
                "punchclock": write(
                    TRANSITION,
                    "transitionTimeEntries",
                    {"ids": ["@ENTRY@"], "to": "SUBMITTED", "idempotencyKey": "@KEY@"},
                    {
                        "data.transitionTimeEntries.userErrors": 0,
                        "data.transitionTimeEntries.timeEntries": 1,
                    },
                    pool=TRANSITION_WINDOW,
                )
            },
            rows=("submitted",),
        ),
        Shape(
            "start",
            "`startTimer` (each stops the member's previous timer)",
            "write",
            {"punchclock": write(START, "startTimer", start_input, started)},
            rows=("started",),
        ),
        Shape(
            "start-replay",
            "`startTimer` replayed (same body, same key)",
            "replay",
            {"punchclock": write(START, "startTimer", start_input, started, fixed=True)},
            rows=("started",),
            fresh="start",
        ),
        Shape(
            "start-stop",
            "`startTimer` and `stopTimer` in turn (rows: starts + stops)",
            "write",
            {
                "punchclock": Target(
                    "/graphql",
                    (
                        Call({"query": START, "variables": {"i": start_input}}, started),
                        Call(
                            {"query": STOP, "variables": {"i": {"idempotencyKey": "@KEY@"}}},
                            stopped,
                        ),
                    ),
                )
            },
            rows=("started", "stopped"),
        ),
    ]


# -- the databases ----------------------------------------------------------------------


class Probe:
    """Counts and a few small writes on a benchmark database, through the drivers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")

    async def __aenter__(self) -> Probe:
        if self.sqlite:
            self.lite = sqlite3.connect(self.url.split("///", 1)[1], isolation_level=None)
            self.lite.execute("PRAGMA busy_timeout=30000")
        else:
            self.pg = await asyncpg.connect(self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.sqlite:
            self.lite.close()
        else:
            await self.pg.close()

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.sqlite:
            cursor = self.lite.execute(sqlite_sql(sql), [sqlite_value(a) for a in args])
            return [tuple(r) for r in cursor.fetchall()]
        return [tuple(r) for r in await self.pg.fetch(sql, *args)]

    async def executemany(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.sqlite:
            self.lite.executemany(sqlite_sql(sql), [tuple(map(sqlite_value, r)) for r in rows])
        else:
            await self.pg.executemany(sql, rows)

    def instant(self, value: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    async def count(self, name: str, ctx: Context) -> int:
        windows = {
            "logged": (
                datetime(WRITE_YEAR, 1, 1, tzinfo=UTC),
                datetime(WRITE_YEAR + 1, 1, 1, tzinfo=UTC),
            ),
            "started": (ctx.since,),
            "stopped": (ctx.since,),
            "versions": UPDATE_WINDOW,
            "comments": (),
            "submitted": TRANSITION_WINDOW,
        }
        ((value,),) = await self.fetch(COUNTS[name], ctx.team, *windows[name])
        return int(value)

    async def pools(self, ctx: Context, window: tuple[datetime, datetime]) -> list[list[str]]:
        """Each writer's DRAFT entries started in ``window`` (at most POOL_PER_USER)."""
        by_user: dict[str, list[str]] = {u: [] for u in ctx.users}
        for user_id, entry_id in await self.fetch(POOL_SQL, ctx.team, *window):
            ids = by_user.get(user_id)
            if ids is not None and len(ids) < POOL_PER_USER:
                ids.append(entry_id)
        return [by_user[u] for u in ctx.users]


async def prepare_seed(dialect: str, args: argparse.Namespace) -> dict[str, Any]:
    """The seeded database (api_bench's seeding, our own name) and WRITERS members of the
    measured team with a token each (kept in the seed's note)."""
    state = await seed(dialect, args.entries, args.keep, pg_name=SEED_PG, directory=SQLITE_DIR)
    if "users" in state:
        return state
    async with Probe(state["url"]) as probe:
        members = await probe.fetch(
            "SELECT m.user_id, m.role FROM memberships m JOIN users u ON u.id = m.user_id "
            "WHERE m.team_id = $1 ORDER BY m.role = 'OWNER' DESC, u.email",
            state["team"],
        )
        tasks = await probe.fetch(
            "SELECT id FROM tasks WHERE team_id = $1 ORDER BY id LIMIT $2", state["team"], WRITERS
        )
    if len(members) < WRITERS or len(tasks) < WRITERS:
        sys.exit(f"the measured team needs {WRITERS} members and tasks")
    users = [m[0] for m in members[:WRITERS]]
    db = Database(state["url"])
    try:
        async with db.write() as session:
            made = [await tokens.create_token(session, user_id=u, name="peer bench") for u in users]
            await session.commit()
    finally:
        await db.dispose()
    state.update(users=users, tokens=made, tasks=[t[0] for t in tasks])
    (SQLITE_DIR / f"{dialect}.json").write_text(json.dumps(state))
    return state


async def prepare_run(dialect: str, state: dict[str, Any]) -> Context:
    """A copy of the seed for this run, its old timers stopped, every member's timer
    running since minutes ago."""
    if dialect == "postgresql":
        url = await clone_pg_database(SEED_PG, RUN_PG)
    else:
        for p in SQLITE_DIR.glob("run.db*"):
            p.unlink()
        shutil.copyfile(SQLITE_DIR / "bench.db", SQLITE_DIR / "run.db")
        url = f"sqlite:///{SQLITE_DIR / 'run.db'}"
    now = utcnow()
    async with Probe(url) as probe:
        # As the server's sweep would at its 24-hour limit (it would otherwise do it at
        # start-up, with an event each): at most one running entry per member.
        old = await probe.fetch("SELECT id, started_at FROM time_entries WHERE stopped_at IS NULL")
        await probe.executemany(
            "UPDATE time_entries SET stopped_at = $2, duration_seconds = 86400, "
            "auto_stopped = true, updated_at = $3 WHERE id = $1",
            [(i, probe.instant(s) + timedelta(days=1), now) for i, s in old],
        )
        members = [
            m[0]
            for m in await probe.fetch(
                "SELECT user_id FROM memberships WHERE team_id = $1 ORDER BY user_id", state["team"]
            )
        ]
        rng = random.Random(len(members))
        rows = []
        for n, user in enumerate(members):
            started = now - timedelta(minutes=20 + n, seconds=rng.randrange(60))
            values = {
                "id": new_id(),
                "team_id": state["team"],
                "user_id": user,
                "scope_type": "TASK",
                "task_id": state["tasks"][n % len(state["tasks"])],
                "category_id": None,
                "started_at": started,
                "stopped_at": None,
                "duration_seconds": None,
                "work_date": started.date(),
                "billable": True,
                "rate_snapshot_cents": 0,
                "status": "DRAFT",
                "input_type": "REALTIME",
                "source": "API",
                "deleted_at": None,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            rows.append(tuple(values[c] for c in COLUMNS))
        marks = ", ".join(f"${n + 1}" for n in range(len(COLUMNS)))
        await probe.executemany(
            f"INSERT INTO time_entries ({', '.join(COLUMNS)}) VALUES ({marks})", rows
        )
        ((categories,),) = await probe.fetch(
            "SELECT count(*) FROM categories WHERE team_id = $1", state["team"]
        )
    return Context(
        dialect=dialect,
        url=url,
        team=state["team"],
        users=state["users"],
        tokens=state["tokens"],
        tasks=state["tasks"],
        members=len(members),
        running=len(members),
        categories=int(categories),
        since=utcnow(),
    )


async def drop_run(ctx: Context, keep: bool) -> None:
    if ctx.dialect == "postgresql":
        await drop_pg_database(RUN_PG)
        if not keep:
            await drop_pg_database(SEED_PG)
    for p in SQLITE_DIR.glob("run.db*"):
        p.unlink()
    if not keep:
        (SQLITE_DIR / f"{ctx.dialect}.json").unlink(missing_ok=True)
        if ctx.dialect == "sqlite":
            for p in SQLITE_DIR.glob("bench.db*"):
                p.unlink()


# -- the servers ------------------------------------------------------------------------


def ensure_postgraphile(directory: Path) -> str:
    """PostGraphile 5 in ``directory`` (outside the repository), from npm unless it is
    there, and the polyfill beside it; its version."""
    directory = directory.resolve()
    if directory.is_relative_to(ROOT):
        sys.exit(f"--peer-dir {directory} lies inside the repository: use a scratch folder")
    package = directory / "node_modules" / "postgraphile" / "package.json"
    if not package.exists() or not json.loads(package.read_text())["version"].startswith("5."):
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("npm is needed to install PostGraphile 5 (Node 20 or newer)")
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / "package.json").exists():
            (directory / "package.json").write_text('{"private": true}\n')
        print(f"installing postgraphile@5 into {directory} (npm)", flush=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "postgraphile@5"],
            cwd=directory,
            check=True,
        )
    (directory / POLYFILL).write_text(POLYFILL_JS)
    version: str = json.loads(package.read_text())["version"]
    return version


def start_servers(
    ctx: Context, args: argparse.Namespace, work: Path
) -> dict[str, subprocess.Popen[bytes]]:
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        port = free_port()
        processes["punchclock"] = launch(
            [sys.executable, "-m", "gql.cli", "serve", "--port", str(port)],
            {"PUNCHCLOCK_DATABASE_URL": ctx.url, "PUNCHCLOCK_LOG_LEVEL": "warning"},
            port,
            work / "punchclock.log",
        )
        ctx.urls["punchclock"] = f"http://127.0.0.1:{port}"
        if ctx.dialect == "postgresql":
            peer = args.peer_dir.resolve()
            port = free_port()
            processes["postgraphile"] = launch(
                [
                    str(peer / "node_modules" / ".bin" / "postgraphile"),
                    "-P",
                    "postgraphile/presets/amber",
                    "-c",
                    ctx.url,
                    "-s",
                    "public",
                    "--port",
                    str(port),
                ],
                {"NODE_ENV": "production", "NODE_OPTIONS": f"--require {peer / POLYFILL}"},
                port,
                work / "postgraphile.log",
                cwd=peer,
            )
            ctx.urls["postgraphile"] = f"http://127.0.0.1:{port}"
            port = free_port()
            processes["baseline"] = start(
                ["bench.baseline_app:app", "--no-access-log"],
                {"PUNCHCLOCK_BENCH_DATABASE_URL": ctx.url},
                port,
                work / "baseline.log",
            )
            ctx.urls["baseline"] = f"http://127.0.0.1:{port}"
    except BaseException:
        for process in processes.values():
            stop(process)
        raise
    return processes


# -- checking and measuring -------------------------------------------------------------


def dig(answer: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(answer, dict):
            return None
        answer = answer.get(part)
    return answer


def fill(template: str, ctx: Context, pool: list[str], key: str) -> str:
    """A body of ``template`` as the Lua script fills it for the first thread."""
    when = datetime(WRITE_YEAR, 1, 1, tzinfo=UTC) + timedelta(
        days=random.randrange(360), seconds=random.randrange(82800)
    )
    values = {
        "KEY": key,
        "ULID": new_id(),
        "START": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "STOP": (when + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "DATE": when.date().isoformat(),
        "NOW": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ENTRY": pool[0] if pool else "",
        "USER": ctx.users[0],
        "TASK": ctx.tasks[0],
    }
    return re.sub(r"@([A-Z]+)@", lambda m: values[m.group(1)], template)


def verify(answer: Any, expect: dict[str, Any], where: str) -> None:
    problems = []
    if not isinstance(answer, dict) or "errors" in answer or answer.get("data") is None:
        problems.append("errors or no data")
    for path, wanted in expect.items():
        got = dig(answer, path)
        if isinstance(wanted, bool) or (isinstance(wanted, str) and wanted != "some"):
            ok = got == wanted
        elif isinstance(wanted, int):
            ok = isinstance(got, list) and len(got) == wanted
        else:
            ok = got is not None and got != [] and got != ""
        if not ok:
            problems.append(f"{path}: wanted {wanted!r}, got {json.dumps(got)[:200]}")
    if problems:
        sys.exit(f"{where} answers wrongly: {'; '.join(problems)}\n{json.dumps(answer)[:2000]}")


def check(shape: Shape, server: str, target: Target, ctx: Context, pool: list[str]) -> Any:
    """Send each body once (a replay's twice) and verify the answers; the last answer."""
    headers = {"content-type": "application/json"}
    if target.tokens:
        headers["authorization"] = f"Bearer {ctx.tokens[0]}"
    answer: Any = None
    key = f"check-{new_id()}"
    for call in target.calls:
        body = fill(json.dumps(call.body), ctx, pool, key if target.fixed else f"check-{new_id()}")
        sends = 2 if shape.kind == "replay" else 1
        for n in range(sends):
            response = httpx.post(
                ctx.urls[server] + target.path, content=body, headers=headers, timeout=60
            )
            where = f"{server} ({ctx.dialect}) on {shape.key}"
            if response.status_code != 200:
                sys.exit(f"{where}: HTTP {response.status_code}: {response.text[:2000]}")
            answer = response.json()
            expect = call.expect
            if n + 1 < sends:  # the first of a replay writes; the second replays
                expect = {k: v for k, v in expect.items() if not k.endswith(".replayed")}
            verify(answer, expect, where)
    return answer


def normalise(data: Any) -> Any:
    """Running entries' seconds move with the clock."""
    if isinstance(data, dict):
        if "stoppedAt" in data and data["stoppedAt"] is None and "durationSeconds" in data:
            data = {**data, "durationSeconds": None}
        return {k: normalise(v) for k, v in data.items()}
    if isinstance(data, list):
        return [normalise(v) for v in data]
    return data


def compare(shape: Shape, answers: dict[str, Any]) -> str:
    """Punchclock and the baseline agree; how much of PostGraphile's answer is the same."""
    notes = []
    ours = answers.get("punchclock")
    base = answers.get("baseline")
    if shape.compare == "equal" and ours is not None and base is not None:
        if normalise(ours["data"]) != normalise(base["data"]):
            sys.exit(
                f"the baseline answers other data than Punchclock on {shape.key}:\n"
                f"{json.dumps(ours)[:1500]}\n{json.dumps(base)[:1500]}"
            )
        notes.append("baseline: the same data")
    if shape.compare == "ids" and ours is not None:
        ids = [n["id"] for n in dig(ours, shape.targets["punchclock"].answer)]
        if base is not None:
            theirs = [n["id"] for n in dig(base, shape.targets["baseline"].answer)]
            if theirs != ids:
                sys.exit(f"the baseline answers other entries than Punchclock on {shape.key}")
            notes.append("baseline: the same ids")
        peer = answers.get("postgraphile")
        if peer is not None:
            rows = dig(peer, shape.targets["postgraphile"].answer)
            same = len(set(ids) & {n["rowId"] for n in rows})
            why = "" if same == len(ids) else " (it shows deleted entries too)"
            notes.append(f"PostGraphile: {same} of {len(ids)} ids the same{why}")
    peer = answers.get("postgraphile")
    if shape.key == "tags" and ours is not None and peer is not None:
        mine = {
            n["id"]: {t["id"] for t in n["tags"]}
            for n in dig(ours, shape.targets["punchclock"].answer)
        }
        theirs = {
            n["rowId"]: {e["tagByTagId"]["rowId"] for e in n["entryTagsByEntryId"]["nodes"]}
            for n in dig(peer, shape.targets["postgraphile"].answer)
        }
        common = set(mine) & set(theirs)
        if any(mine[i] != theirs[i] for i in common):
            sys.exit("PostGraphile answers other tags than Punchclock for the same entries")
        tagged = sum(1 for i in mine if mine[i])
        notes.append(f"the same tags on {len(common)} common entries; {tagged} of 100 tagged")
    if shape.key == "dashboard" and peer is not None:
        rows = dig(peer, "data.teamByRowId.timeEntriesByTeamId.nodes")
        running = sum(1 for n in rows if n["stoppedAt"] is None)
        notes.append(f"PostGraphile: {running} of its {len(rows)} newest entries are running")
    return "; ".join(notes)


def script(
    shape: Shape, server: str, target: Target, ctx: Context, pools: list[list[str]], path: Path
) -> Path:
    path.write_text(
        LUA
        % {
            "title": f"{shape.key} on {server} ({ctx.dialect})",
            "templates": lua_list(json.dumps(c.body) for c in target.calls),
            "tokens": lua_list(ctx.tokens) if target.tokens else "",
            "users": lua_list(ctx.users),
            "tasks": lua_list(ctx.tasks),
            "pools": ", ".join("{" + lua_list(p) + "}" for p in pools),
            "fixed": "true" if target.fixed else "false",
            "year": WRITE_YEAR,
        }
    )
    return path


async def measure(
    shape: Shape,
    server: str,
    ctx: Context,
    probe: Probe,
    args: argparse.Namespace,
    binary: str,
    work: Path,
) -> Result:
    target = shape.targets[server]
    url = ctx.urls[server] + target.path
    lua = work / f"{shape.key}-{server}-{ctx.dialect}.lua"
    stamp = f"{int(time.time())}-{shape.key}"
    connections = READ_CONNECTIONS if shape.kind == "read" else WRITERS

    async def pools() -> list[list[str]]:
        return [] if target.pool is None else await probe.pools(ctx, target.pool)

    def run(seconds: int, phase: str) -> float:
        return wrk(
            binary,
            url,
            lua,
            seconds,
            connections,
            f"{stamp}-{phase}",
            str(random.randrange(1, 2**30)),
            threads=shape.threads,
        )

    result = Result(seconds=args.seconds)
    try:
        script(shape, server, target, ctx, await pools(), lua)
        if args.warmup:
            run(args.warmup, "warm")
        # Pools again: the warm-up took some of them (a transition moves an entry once).
        script(shape, server, target, ctx, await pools(), lua)
        if shape.rows:  # the warm-up's last requests in flight land first
            await asyncio.sleep(SETTLE)
        before = [await probe.count(c, ctx) for c in shape.rows]
        result.requests = run(args.seconds, "timed")
        if shape.rows:
            await asyncio.sleep(SETTLE)
            after = [await probe.count(c, ctx) for c in shape.rows]
            result.rows = sum(after) - sum(before)
    except SystemExit as failure:
        result.error = str(failure).splitlines()[0][:120]
    line = f"  {shape.key:<16} {server:<13} {result.requests:9.1f} req/s"
    if result.rows is not None:
        line += f"  {result.rows_per_second:9.1f} rows/s ({result.rows:,} rows)"
        if shape.kind in ("write", "floor") and result.rows < 0.9 * result.requests * args.seconds:
            line += "  (fewer rows than requests: some wrote nothing)"
    if result.error:
        line += f"  FAILED: {result.error}"
    print(line, flush=True)
    return result


async def run_dialect(
    dialect: str, args: argparse.Namespace, binary: str, results: dict[tuple[str, str, str], Result]
) -> None:
    state = await prepare_seed(dialect, args)
    ctx = await prepare_run(dialect, state)
    work = Path(tempfile.mkdtemp(prefix="pc-peer-bench-"))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        processes = start_servers(ctx, args, work)
        selected = [
            s for s in shapes(ctx) if wanted(s, args.only) and set(s.targets) & set(processes)
        ]
        print(f"\n{dialect}: {', '.join(sorted(processes))} up", flush=True)
        async with Probe(ctx.url) as probe:
            # Reads first, writes after: what the writes leave behind is not read.
            for reads in (True, False):
                phase = [s for s in selected if (s.kind == "read") == reads]
                if not phase:
                    continue
                print(f"checking the {'reads' if reads else 'writes'}' answers", flush=True)
                for shape in phase:
                    answers = {}
                    for server, target in shape.targets.items():
                        if server in processes:
                            pool = (await probe.pools(ctx, target.pool))[0] if target.pool else []
                            answers[server] = check(shape, server, target, ctx, pool)
                    note = compare(shape, answers) if reads else ""
                    print(f"  {shape.key:<16} ok  {note}", flush=True)
                print(f"measuring ({args.warmup} s warm-up, {args.seconds} s timed)", flush=True)
                for shape in phase:
                    for server in shape.targets:
                        if server in processes:
                            results[(dialect, shape.key, server)] = await measure(
                                shape, server, ctx, probe, args, binary, work
                            )
    finally:
        for process in processes.values():
            stop(process)
        await drop_run(ctx, args.keep)
        shutil.rmtree(work, ignore_errors=True)


def wanted(shape: Shape, only: set[str] | None) -> bool:
    if only is None:
        return True
    if shape.kind == "floor":  # the writes' yardsticks come with any write
        return bool(only - {"root", "tags", "team", "viewer", "dashboard", "report"})
    return shape.key in only


# -- the table --------------------------------------------------------------------------


def figure(result: Result | None, kind: str) -> float | None:
    if result is None or result.error:
        return None
    return result.rows_per_second if kind in ("write", "floor") else result.requests


def table(results: dict[tuple[str, str, str], Result], ctx_shapes: list[Shape]) -> str:
    def cell(value: float | None) -> str:
        return "" if value is None else f"{value:,.1f}"

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    def r(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}"

    floors = {
        "postgraphile": figure(
            results.get(("postgresql", "createTimeEntry", "postgraphile")), "floor"
        ),
        "baseline": figure(results.get(("postgresql", "insert", "baseline")), "floor"),
    }
    lines = [
        "| shape | unit | Punchclock (PostgreSQL) | PostGraphile | baseline | Punchclock / "
        "PostGraphile | Punchclock / baseline | Punchclock (SQLite) | SQLite / PostgreSQL | "
        "goals |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for shape in ctx_shapes:
        if shape.kind == "floor":
            continue
        if not any(k[1] == shape.key for k in results):
            continue
        kind = shape.kind
        ours = figure(results.get(("postgresql", shape.key, "punchclock")), kind)
        lite = figure(results.get(("sqlite", shape.key, "punchclock")), kind)
        if kind == "read":
            peer = figure(results.get(("postgresql", shape.key, "postgraphile")), kind)
            base = figure(results.get(("postgresql", shape.key, "baseline")), kind)
            unit = "req/s"
        else:
            peer, base = floors["postgraphile"], floors["baseline"]
            unit = "rows/s" if kind == "write" else "answers/s"
        goals = []
        vs_peer = ratio(ours, peer)
        if kind == "read" and peer is not None:
            goals.append(mark(f"≥{GOAL_READ}x PostGraphile", vs_peer, GOAL_READ))
        elif kind == "write":
            goals.append(mark(f"≥{GOAL_WRITE}x createTimeEntry", vs_peer, GOAL_WRITE))
        elif kind == "replay":
            for dialect, name in (("postgresql", "PostgreSQL"), ("sqlite", "SQLite")):
                fresh = figure(results.get((dialect, shape.fresh, "punchclock")), "write")
                again = figure(results.get((dialect, shape.key, "punchclock")), kind)
                if fresh is not None and again is not None:
                    goals.append(mark(f"≥ fresh ({name})", again / fresh, 1.0))
        if lite is not None and ours is not None:
            goals.append(mark(f"SQLite ≥{GOAL_SQLITE}x PostgreSQL", lite / ours, GOAL_SQLITE))
        failed = [
            f"{server} on {dialect} failed"
            for (dialect, key, server), res in results.items()
            if key == shape.key and res.error
        ]
        lines.append(
            f"| {shape.title} | {unit} | {cell(ours)} | {cell(peer)} | {cell(base)} | "
            f"{r(vs_peer)} | {r(ratio(ours, base))} | {cell(lite)} | {r(ratio(lite, ours))} | "
            f"{'; '.join(goals + failed)} |"
        )
    return "\n".join(lines)


def mark(goal: str, value: float | None, least: float) -> str:
    if value is None:
        return f"{goal}: not measured"
    return f"{goal}: {'met' if value >= least else 'missed'} ({value:.2f})"


def conditions(args: argparse.Namespace, peer_version: str | None) -> str:
    def out(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except OSError:
            return "?"
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else ""

    commit = out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    # The code measured is src/; bench/ is the harness.
    dirty = out(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"])
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {commit}"
        f"{' (src/ modified)' if dirty else ''}, "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostGraphile {peer_version or '-'} on Node {out(['node', '--version'])}, "
        f"{out(['wrk', '-v']).split(' [')[0]}; {args.entries:,} entries; "
        f"reads -t1 -c{READ_CONNECTIONS}, "
        f"writes -t{WRITERS} -c{WRITERS}; {args.warmup} s warm-up, {args.seconds} s timed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dialect", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10, help="timed seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    parser.add_argument(
        "--only",
        help="comma-separated shapes: root,tags,team,viewer,dashboard,report,log,log-replay,"
        "update,comment,transition,start,start-replay,start-stop",
    )
    parser.add_argument(
        "--peer-dir", type=Path, default=PEER_DIR, help="where PostGraphile is installed (npm)"
    )
    args = parser.parse_args()
    args.only = None if not args.only else set(args.only.split(","))
    # The shapes' keys, titles and order (the context only fills in ids).
    listed = shapes(Context("", "", "", [""], [""], [""], 0, 0, 0, utcnow()))
    unknown = (args.only or set()) - {s.key for s in listed if s.kind != "floor"}
    if unknown:
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))}")
    binary = require_wrk()
    began = time.perf_counter()
    dialects = ("postgresql", "sqlite") if args.dialect == "both" else (args.dialect,)
    peer_version = ensure_postgraphile(args.peer_dir) if "postgresql" in dialects else None
    started_under = conditions(args, peer_version)
    results: dict[tuple[str, str, str], Result] = {}
    for dialect in dialects:
        asyncio.run(run_dialect(dialect, args, binary, results))
    print(f"\nStarted {started_under}")
    print(
        f"Ended with load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"after {(time.perf_counter() - began) / 60:.1f} min\n"
    )
    print(table(results, listed))
    print(
        "\nPostGraphile and baseline columns of the write rows: one measurement each of "
        "PostGraphile's plain createTimeEntry and the baseline's plain insert (rows/s, same "
        f"-t{WRITERS} -c{WRITERS} load). Replays: answers per second."
    )


if __name__ == "__main__":
    main()
