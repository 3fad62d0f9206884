"""Logging a finished entry without the ORM, for the compiled write path (``gql.compiler``).

``timesheet.log_entry`` reads a team, a membership, a task and each category of its chain
with one ORM statement apiece, and writes the idempotency record, the entry and the
record's answer with three more: some ten round trips and most of a mutation's CPU. Here
the common case (the viewer logs on a task or a category of their team) takes:

- one statement for every fact the checks need: the bearer token and its user (the
  request's authentication, checked by ``tokens.is_valid`` as for every request, and
  its scope: a READ token is handed to the standard path, which refuses it),
  the membership, the team, the task, the category chain (a recursive CTE) and the
  idempotency record of the key, if it was used before: a replay of this very request
  raises ``Replay`` with the stored result, and costs this one read;
- ``rules.decide_scope``, ``timesheet.log_timing``, ``rules.billing`` and
  ``timesheet.new_entry_values``, the very rules and columns of the ORM path;
- one write: on PostgreSQL a single statement (the idempotency record and the entry's
  CREATED change, ``store.history``, are CTEs of the entry insert, committed together or
  not at all); on SQLite the whole transaction, BEGIN
  IMMEDIATE to COMMIT, in one hand-off to the process's writer thread
  (``Database.run_on_writer``), kept apart from write sessions by the ``WriteGate``.

A team whose overlap policy is not ALLOW is not the common case: its check needs the
user's lock (``store.overlap``), which this write does not take.

Anything else raises ``NotHandled`` before a row is written, and the ORM path does the
request from the start: every error (and a key used with another request, an expired
record, or a repeat racing its first run, which meets the record's unique key here) comes
from that one path. Statements are compiled from
the tables once per dialect; values go through the column types' own bind and result
processors, so what is stored is what the ORM stores.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import (
    Dialect,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    true,
)
from sqlmodel import SQLModel

from store import history, idempotency, outbox, rules, tokens
from store.db import Database
from store.direct import Statement, announce, compile_statement
from store.entry_rules import effective_category_id
from store.errors import DomainError
from store.events import EntryEvent, EventKind
from store.models import InputType, OverlapPolicy, Source, TimeEntry
from store.timesheet import LogEntry, log_timing, new_entry_values
from store.timeutil import utcnow_precise
from store.types import UTCDateTime

Row = dict[str, Any]
T = TypeVar("T")


class NotHandled(Exception):
    """Not the common case, or the checks refused it, or the key is taken: nothing was
    written, and the ORM path must answer (it reports every error exactly)."""


class Replay(Exception):
    """The key was used before with this very request: its stored result, to answer as
    the replay it is (nothing was written)."""

    def __init__(self, result: Any) -> None:
        super().__init__("replay")
        self.result = result


class Uncertain(Exception):
    """The write was sent and then the connection failed: it may or may not have
    committed."""


@dataclass(frozen=True, slots=True)
class TeamFacts:
    id: str
    time_zone: str
    locked_before: datetime | None
    default_billable: bool
    default_rate_cents: int
    archived_at: datetime | None
    overlap_policy: str


@dataclass(frozen=True, slots=True)
class CategoryFacts:
    id: str
    team_id: str
    parent_id: str | None
    title: str
    archived: bool
    billable: bool | None
    rate_cents: int | None


@dataclass(frozen=True)
class Logged:
    """The new entry's columns and the rows it refers to (each by column name), as the
    compiled read path's joined row has them: ``category`` is the entry's category (its
    task's, or its own), ``task_category`` the task's."""

    entry: Row
    user: Row
    team: Row
    task: Row | None
    task_category: Row | None
    category: Row | None


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


@dataclass(frozen=True)
class _Plan:
    facts: Statement  # every fact, one row per category of the chain
    # SQLite, in one BEGIN IMMEDIATE: the record, the entry, its change, the counter, the
    # event.
    record: Statement | None
    entry: Statement | None
    change: Statement | None
    counter: Statement | None
    event: Statement | None
    # PostgreSQL, one statement each: the entry, (the record,) the counter and the event.
    write: Statement | None
    write_with_record: Statement | None


def _binds(table: Table, prefix: str) -> list[Any]:
    return [bindparam(prefix + c.name, type_=c.type) for c in table.columns]


def _insert(table: Table, prefix: str) -> Any:
    return insert(table).values(
        {c.name: bindparam(prefix + c.name, type_=c.type) for c in table.columns}
    )


def _insert_where(table: Table, prefix: str, condition: Any) -> Any:
    """An INSERT of one row of parameters, if ``condition`` holds."""
    return insert(table).from_select(
        [c.name for c in table.columns], select(*_binds(table, prefix)).where(condition)
    )


@functools.lru_cache(maxsize=4)
def _plan(dialect: Dialect) -> _Plan:
    teams, members = _table("teams"), _table("memberships")
    tokens, users = _table("access_tokens"), _table("users")
    tasks, categories = _table("tasks").alias("t"), _table("categories").alias("c")
    parents = _table("categories").alias("p")
    team = bindparam("team", type_=String())
    task = bindparam("task", type_=String())
    # The chain's rows: the task's category (or the given one), then the parent of each
    # category of the team, each found by its primary key; UNION stops at a cycle (the
    # same row again). The caller walks it as rules.category_chain does (a category of
    # another team ends the chain).
    start = func.coalesce(
        select(tasks.c.category_id)
        .where(tasks.c.id == task, tasks.c.team_id == team)
        .scalar_subquery(),
        bindparam("category", type_=String()),
    )
    seed = select(*categories.c).where(categories.c.id == start).cte("chain", recursive=True)
    chain = seed.union(
        select(*parents.c).select_from(
            parents.join(seed, and_(parents.c.id == seed.c.parent_id, seed.c.team_id == team))
        )
    )
    records = _table("idempotency_records")
    columns = [
        tokens.c.secret_hash.label("token__secret_hash"),
        tokens.c.revoked_at.label("token__revoked_at"),
        tokens.c.expires_at.label("token__expires_at"),
        tokens.c.scope.label("token__scope"),
        *(users.c[c.name].label(f"user__{c.name}") for c in users.columns),
        *(teams.c[c.name].label(f"team__{c.name}") for c in teams.columns),
        members.c.rate_cents.label("member__rate_cents"),
        *(tasks.c[c.name].label(f"task__{c.name}") for c in tasks.columns),
        *(chain.c[c.name].label(f"category__{c.name}") for c in categories.columns),
        records.c.request_hash.label("record__request_hash"),
        records.c.response.label("record__response"),
        records.c.expires_at.label("record__expires_at"),
    ]
    # The token (checked by the caller), its user, their membership of the team: no row
    # at all for an unknown token or a non-member.
    facts = (
        select(*columns)
        .select_from(
            tokens.join(users, users.c.id == tokens.c.user_id)
            .join(members, and_(members.c.user_id == users.c.id, members.c.team_id == team))
            .join(teams, teams.c.id == members.c.team_id)
            .outerjoin(tasks, and_(tasks.c.id == task, tasks.c.team_id == teams.c.id))
            .outerjoin(chain, true())
            # The key's record, if it was used before (no key: NULL matches nothing).
            .outerjoin(
                records,
                and_(
                    records.c.user_id == users.c.id,
                    records.c.mutation == bindparam("mutation", type_=String()),
                    records.c.key == bindparam("key", type_=String()),
                ),
            )
        )
        .where(tokens.c.prefix == bindparam("prefix"))
    )
    entries = _table("time_entries")
    changes = _table("entry_changes")
    events = outbox.EVENTS
    if dialect.name == "sqlite":  # BEGIN IMMEDIATE: the facts read is the writer's own
        return _Plan(
            facts=compile_statement(facts, dialect),
            record=compile_statement(_insert(records, "r_"), dialect),
            entry=compile_statement(_insert(entries, "e_"), dialect),
            change=compile_statement(_insert(changes, "h_"), dialect),
            counter=compile_statement(
                outbox.raise_counter(
                    "sqlite", bindparam("e_team_id", type_=String()), literal_column("1")
                ),
                dialect,
            ),
            event=compile_statement(_insert(events, "v_"), dialect),
            write=None,
            write_with_record=None,
        )
    # PostgreSQL: the facts were read in a statement of their own. The insert reads the
    # team's lock again, FOR KEY SHARE (store.locks step 2): a lockTeamEntries in flight
    # holds the row FOR UPDATE, so the insert waits for its commit and then sees the new
    # lockedBefore (READ COMMITTED re-reads a locked row), inserting nothing inside it.
    # The record, the team's counter and the event follow from the entry's RETURNING:
    # all or nothing, and the statement returns the event's position (none: not written).
    # An archived team has no row here (rules.check_team_active): NULL, nothing inserted;
    # nor has a team whose overlap policy changed from ALLOW since the facts were read.
    # The writer's membership is locked FOR KEY SHARE as well (store.locks step 2): a
    # removal of the member in flight is waited for, and then there is no row.
    team_key = bindparam("e_team_id", type_=String())
    open_from = (
        select(func.coalesce(teams.c.locked_before, bindparam("floor", type_=UTCDateTime())))
        .where(
            teams.c.id == team_key,
            teams.c.archived_at.is_(None),
            # Inline: every parameter of these statements is named by the caller.
            teams.c.overlap_policy == literal_column(f"'{OverlapPolicy.ALLOW.value}'"),
        )
        .with_for_update(read=True, key_share=True)
        .scalar_subquery()
    )
    is_member = (
        select(members.c.user_id)
        .where(
            members.c.team_id == team_key,
            members.c.user_id == bindparam("e_user_id", type_=String()),
        )
        .with_for_update(read=True, key_share=True)
        .exists()
    )
    is_open = and_(
        open_from <= bindparam("e_started_at", type_=entries.c.started_at.type), is_member
    )
    created = _insert_where(entries, "e_", is_open).returning(entries.c.team_id).cte("entry")
    counter = outbox.raise_counter("postgresql", created.c.team_id, 1, created).cte("counter")
    event = (
        insert(events)
        .from_select(
            [c.name for c in events.columns],
            select(
                *(
                    counter.c.position
                    if c.name == "position"
                    else bindparam("v_" + c.name, type_=c.type)
                    for c in events.columns
                )
            ).select_from(counter),
        )
        .returning(events.c.position)
    )
    record = insert(records).from_select(
        [c.name for c in records.columns], select(*_binds(records, "r_")).select_from(created)
    )
    # The entry's CREATED change (store.history), inserted only with the entry.
    change = insert(changes).from_select(
        [c.name for c in changes.columns], select(*_binds(changes, "h_")).select_from(created)
    )
    return _Plan(
        facts=compile_statement(facts, dialect),
        record=None,
        entry=None,
        change=None,
        counter=None,
        event=None,
        write=compile_statement(
            event.add_cte(created).add_cte(change.cte("change")).add_cte(counter), dialect
        ),
        write_with_record=compile_statement(
            event.add_cte(created)
            .add_cte(change.cte("change"))
            .add_cte(record.cte("record"))
            .add_cte(counter),
            dialect,
        ),
    )


def _part(facts: Statement, row: Row, prefix: str) -> Row | None:
    """The ``prefix__`` columns of a row by column name; None for a missing (NULL) row."""
    if row[f"{prefix}__id"] is None:
        return None
    return facts.part(row, prefix)


def _category(row: Row) -> CategoryFacts:
    return CategoryFacts(
        row["id"],
        row["team_id"],
        row["parent_id"],
        row["title"],
        row["archived"],
        row["billable"],
        row["rate_cents"],
    )


def _check(condition: bool) -> None:
    if not condition:
        raise NotHandled


@dataclass(frozen=True)
class _Request:
    secret: str
    data: LogEntry
    mutation: str
    key: str | None
    digest: str
    now: datetime


@dataclass(frozen=True, slots=True)
class TaskFacts:
    id: str
    title: str
    state: str
    category_id: str | None
    archived_at: datetime | None


def _decide(
    request: _Request, facts: Statement, rows: list[Row]
) -> tuple[Logged, dict[str, Any], EntryEvent]:
    """The entry to insert from the facts (the ORM path's rules, in its order), and the
    values of every parameter of the write."""
    data, now = request.data, request.now
    _check(bool(rows))  # an unknown token, not a member, or no such team
    first = rows[0]
    # The request's authentication and the token's scope (a READ token writes nothing);
    # anything wrong: the standard path says what.
    _check(tokens.check_row(first, request.secret, utcnow_precise()))
    _check(tokens.may_write(first["token__scope"]))
    if first["record__request_hash"] is not None:  # the key was used before
        # A live record of this very request replays; an expired one or another request
        # under the key goes to the ORM path (it clears the one, refuses the other).
        _check(first["record__request_hash"] == request.digest)
        _check(first["record__expires_at"] > now)
        raise Replay(idempotency.stored_result(first["record__response"]))
    user = facts.part(first, "user")
    actor_id = user["id"]
    _check(data.user_id in (None, actor_id))  # logging for another member
    team_row = _part(facts, rows[0], "team")
    assert team_row is not None
    team = TeamFacts(
        team_row["id"],
        team_row["time_zone"],
        team_row["locked_before"],
        team_row["default_billable"],
        team_row["default_rate_cents"],
        team_row["archived_at"],
        team_row["overlap_policy"],
    )
    # A team that warns of or refuses overlaps: the ORM path, which asks store.overlap
    # under the user's lock (this write takes none).
    _check(team.overlap_policy == OverlapPolicy.ALLOW.value)
    by_id: dict[str, Row] = {}
    for row in rows:
        category_row = _part(facts, row, "category")
        if category_row is not None:
            by_id[category_row["id"]] = category_row
    task = _part(facts, rows[0], "task")
    if data.scope.task_id is not None:
        _check(task is not None)  # no such task in this team
        assert task is not None
        start = task["category_id"]
    else:
        start = data.scope.category_id
    chain: list[CategoryFacts] = []
    seen: set[str] = set()
    current = start
    while current is not None and current not in seen:  # rules.category_chain
        seen.add(current)
        found = by_id.get(current)
        if found is None or found["team_id"] != team.id:
            break
        chain.append(_category(found))
        current = found["parent_id"]
    if task is None:
        _check(bool(chain) and chain[0].id == data.scope.category_id)  # no such category
    task_category = by_id.get(task["category_id"]) if task and task["category_id"] else None
    _check(task is None or task["category_id"] is None or task_category is not None)
    try:
        rules.check_team_active(team, ())
        scope = rules.decide_scope(
            task=TaskFacts(
                task["id"], task["title"], task["state"], task["category_id"], task["archived_at"]
            )
            if task
            else None,
            chain=chain,
            field=(),
        )
        timing = log_timing(team, data, now)
    except DomainError as exc:
        raise NotHandled from exc
    values = new_entry_values(
        team=team,
        user_id=actor_id,
        scope=scope,
        billing=rules.billing(
            team=team,
            member_rate=rows[0]["member__rate_cents"],
            chain=chain,
            explicit_billable=data.billable,
        ),
        started_at=timing.started_at,
        seconds=timing.seconds,
        description=timing.description,
        input_type=data.input_type,
        source=data.source,
        now=now,
        digest=request.digest,
    )
    # "floor": no period lock at all (PostgreSQL's insert reads lockedBefore again).
    params = {f"e_{name}": value for name, value in values.items()} | {"floor": rules.EARLIEST}
    # The CREATED change, as the ORM path's listener records it (store.history).
    change = history.change_values(
        entry_id=values["id"],
        team_id=values["team_id"],
        actor_id=actor_id,
        at=values["updated_at"],
        before=None,
        after=values,
    )
    assert change is not None  # a new entry always has values
    params |= {f"h_{name}": value for name, value in change.items()}
    if request.key is not None:
        record = idempotency.record_values(
            user_id=actor_id,
            mutation=request.mutation,
            key=request.key,
            digest=request.digest,
            now=now,
            response={"timeEntry": values["id"]},
        )
        params.update({f"r_{name}": value for name, value in record.items()})
    category_id = effective_category_id(
        task["id"] if task else None, data.scope.category_id, task["category_id"] if task else None
    )
    category = by_id.get(category_id) if category_id else None
    # The LOGGED event, as the ORM path's EventLog makes it; its position comes with the
    # write (store.outbox).
    event = EntryEvent.of(EventKind.LOGGED, TimeEntry.model_construct(**values), now)
    params |= {
        f"v_{name}": value
        for name, value in outbox.row_values(replace(event, position=0)).items()
        if name != "position"
    }
    return Logged(values, user, team_row, task, task_category, category), params, event


def handles(data: LogEntry) -> bool:
    """Whether ``log_entry`` may take this log (else the ORM path does, from the start)."""
    return (
        data.entry_id is None
        and data.external_ref is None
        and not data.tag_ids  # tags: the ORM path's store.tags.set_entry_tags
        and (data.scope.task_id is None) != (data.scope.category_id is None)
        and data.input_type in InputType.__members__
        and data.source in Source.__members__
    )


async def log_entry(
    db: Database,
    *,
    token: str,
    data: LogEntry,
    mutation: str,
    key: str | None,
    digest: str,
    now: datetime,
) -> tuple[Logged, EntryEvent]:
    """Log ``data`` for the bearer of ``token``, as ``timesheet.log_entry`` would in the
    run of ``mutation`` with idempotency ``key``; ``NotHandled`` when the ORM path must
    (an invalid or revoked token included: the standard path refuses it as always).

    The token is checked in the same statement that reads the facts: one round trip
    instead of two, and on SQLite inside the write transaction.

    Any exception but ``Uncertain`` means that nothing was written."""
    parsed = tokens.parse_token(token)
    if parsed is None or not handles(data):
        raise NotHandled
    prefix, secret = parsed
    request = _Request(secret, data, mutation, key, digest, now)
    facts = {
        "prefix": prefix,
        "team": data.team_id,
        "task": data.scope.task_id,
        "category": data.scope.category_id,
        "mutation": mutation,
        "key": key,
    }
    engine = db.write_engine.sync_engine
    plan = _plan(engine.dialect)

    if db.dialect == "sqlite":
        if not db.has_sqlite_writer:
            raise NotHandled

        def transaction(connection: sqlite3.Connection) -> tuple[Logged, EntryEvent]:
            facts_args = plan.facts.args(facts)
            connection.execute("BEGIN IMMEDIATE")
            try:
                announce(engine, plan.facts.sql, facts_args)
                rows = plan.facts.rows(connection.execute(plan.facts.sql, facts_args).fetchall())
                logged, params, event = _decide(request, plan.facts, rows)

                def run(statement: Statement | None) -> Any:
                    assert statement is not None
                    args = statement.args(params)
                    announce(engine, statement.sql, args)
                    return connection.execute(statement.sql, args)

                if key is not None:
                    run(plan.record)
                run(plan.entry)
                run(plan.change)
                params["v_position"] = int(run(plan.counter).fetchone()[0])
                run(plan.event)
                connection.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                raise NotHandled from exc
            finally:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            return logged, replace(event, position=params["v_position"])

        return await db.run_on_writer(transaction)

    async with db.driver_connection() as connection:
        facts_args = plan.facts.args(facts)
        announce(engine, plan.facts.sql, facts_args)
        rows = plan.facts.rows(await connection.fetch(plan.facts.sql, *facts_args))
        logged, params, event = _decide(request, plan.facts, rows)
        statement = plan.write if key is None else plan.write_with_record
        assert statement is not None
        args = statement.args(params)
        announce(engine, statement.sql, args)
        try:
            position = await connection.fetchval(statement.sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise NotHandled from exc
        except asyncpg.PostgresError:
            raise  # refused by the server: the statement (its own transaction) did nothing
        except Exception as exc:
            raise Uncertain from exc
        if position is None:  # a period lock, archive or removal came first: nothing written
            raise NotHandled
    return logged, replace(event, position=int(position))
