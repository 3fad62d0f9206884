"""N+1 guard: a nested page costs a fixed number of SQL statements, whatever its size."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event
from sqlmodel import col, select

from gql.schema.types.pagination import entry_cursor
from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.ids import new_id
from store.models import Comment, EntryTag, Tag, TimeEntry
from tests.conftest import QUIET
from tests.factories import add_entries, make_team

NESTED = """query($f: TimeEntryFilter!, $first: Int) { timeEntries(filter: $f, first: $first) {
  nodes { id durationSeconds amountCents user { id nickname } team { id name }
          task { id title category { id title parent { id title } } }
          category { id } comments { id content user { nickname } }
          history { action user { nickname } changes { field to } }
          tags { id name team { id } } } } }"""


async def test_nested_page_statement_count_does_not_grow(db: Database, database_url: str) -> None:
    world = await make_team(db, "Acme", prefix="a")
    tags = [Tag(id=new_id(), team_id=world.id, name=n, name_key=n) for n in ("a", "b", "c")]
    async with db.write() as s:
        s.add_all(tags)
        await s.commit()
    for user, task in ((world.member, "T-1"), (world.admin, "T-2"), (world.owner, "T-1")):
        ids = await add_entries(
            db, team_id=world.id, user_id=user.id, task_id=world.tasks[task], count=40
        )
        async with db.write() as s:
            for entry_id in ids[:20]:
                s.add(
                    Comment(
                        id=new_id(),
                        time_entry_id=entry_id,
                        team_id=world.id,
                        user_id=user.id,
                        content="c",
                    )
                )
            for n, entry_id in enumerate(ids[:30]):  # tags on most: one or two each
                for tag in tags[n % 3 : n % 3 + 1 + n % 2]:
                    s.add(EntryTag(entry_id=entry_id, tag_id=tag.id, team_id=world.id))
            await s.commit()

    app = create_app(Settings(database_url=database_url, **QUIET))
    statements = _count_statements(app, transactions=True)
    small = await _statements_for_page(app, NESTED, world, 5, statements)
    large = await _statements_for_page(app, NESTED, world, 100, statements)
    print(f"SQL statements: page of 5 -> {small}, page of 100 -> {large}")
    assert small == large
    assert large <= 20
    await app.state.services.db.dispose()


FAST = """query($f: TimeEntryFilter!, $first: Int) { timeEntries(filter: $f, first: $first) {
  totalCount nodes { id startedAt stoppedAt durationSeconds amountCents billable description
  user { id nickname } team { id name } task { id title category { id title } }
  category { id title } } } }"""
# The same page nested under the team and under the viewer, and the viewer's teams' pages.
NESTED_UNDER = """query($id: ID!, $first: Int) {
  team(id: $id) { name timeEntries(first: $first) { nodes { id user { nickname }
    task { title category { title } } } } }
  viewer { nickname timeEntries(first: $first) { nodes { id amountCents team { name } } } } }"""


# A connection under every entry of a page: one page per entry, all in one statement.
PER_ROW = """query($f: TimeEntryFilter!, $first: Int) { timeEntries(filter: $f, first: $first) {
  nodes { id user { nickname timeEntries(first: 2) { nodes { id task { title } } } } } } }"""


# Backward pages from a cursor (the page and its probe in one statement), with a backward
# page under every entry of it.
BACKWARD = """query($f: TimeEntryFilter!, $first: Int, $c: String) {
  timeEntries(filter: $f, last: $first, before: $c) { pageInfo { hasNextPage hasPreviousPage }
  nodes { id user { nickname timeEntries(last: 2, before: $c) { pageInfo { hasNextPage }
    nodes { id task { title } } } } } } }"""


async def test_compiled_documents_take_as_many_statements_whatever_their_pages(
    db: Database, database_url: str
) -> None:
    """The compiled path: one statement per relation and level, not per row."""
    world = await make_team(db, "Acme", prefix="a")
    for user, task in ((world.member, "T-1"), (world.admin, "T-2"), (world.member, "T-2")):
        await add_entries(
            db, team_id=world.id, user_id=user.id, task_id=world.tasks[task], count=40
        )
    app = create_app(Settings(database_url=database_url, **QUIET))
    compiler = app.state.graphql.fast_path
    statements = _count_statements(app, transactions=False)
    oldest = await _oldest_cursor(db, world.id)
    for query, variables in (
        (FAST, _team_filter),
        (NESTED_UNDER, _team_id),
        (PER_ROW, _team_filter),
        (BACKWARD, lambda w, first: {**_team_filter(w, first), "c": oldest}),
    ):
        counts = []
        for first in (10, 50, 80):
            answered = compiler.answered
            counts.append(
                await _statements_for(app, query, variables(world, first), world, statements)
            )
            assert compiler.answered == answered + 1, "the compiled path must answer it"
        print(f"compiled: SQL statements for pages of 10, 50, 80: {counts}")
        assert len(set(counts)) == 1, counts
        assert counts[0] <= 12
    await app.state.services.db.dispose()


async def _oldest_cursor(db: Database, team_id: str) -> str:
    async with db.read() as s:
        row = (
            await s.exec(
                select(TimeEntry)
                .where(TimeEntry.team_id == team_id)
                .order_by(col(TimeEntry.started_at), col(TimeEntry.id))
            )
        ).first()
    assert row is not None
    return entry_cursor(row.started_at, row.id)


def _team_filter(world: Any, first: int) -> dict[str, Any]:
    return {"f": {"teamId": world.id}, "first": first}


def _team_id(world: Any, first: int) -> dict[str, Any]:
    return {"id": world.id, "first": first}


def _count_statements(app: Any, *, transactions: bool) -> list[str]:
    """Every statement the app's engines send from now on (BEGIN/COMMIT/ROLLBACK too, or not)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if transactions or statement.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            statements.append(statement)

    database = app.state.services.db
    for engine in {id(e): e for e in (database.engine, database.write_engine)}.values():
        event.listen(engine.sync_engine, "before_cursor_execute", count)
    return statements


async def _statements_for_page(
    app: Any, query: str, world: Any, first: int, statements: list[str]
) -> int:
    """How many statements one page of ``first`` entries of the team took."""
    count = await _statements_for(app, query, _team_filter(world, first), world, statements)
    return count


async def _statements_for(
    app: Any, query: str, variables: dict[str, Any], world: Any, statements: list[str]
) -> int:
    """How many statements the document took (its pages all full)."""
    statements.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {world.member.token}"},
        )
    body = r.json()
    assert body.get("errors") is None, body
    data = body["data"]
    pages = (
        [data["timeEntries"]]
        if "timeEntries" in data
        else [
            data["team"]["timeEntries"],
            data["viewer"]["timeEntries"],
        ]
    )
    assert all(len(page["nodes"]) == variables["first"] for page in pages)
    return len(statements)
