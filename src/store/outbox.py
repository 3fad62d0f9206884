"""The transactional outbox: each committed change's event, at a gap-free position.

Every write transaction hands its events (``store.events.EventLog``) to :func:`append`
before it commits. ``append`` raises the team's counter in ``team_positions`` by the
number of events (an upsert whose row lock lasts until the transaction ends: the last
lock of ``store.locks``' order, after which a transaction waits for nothing but its
commit) and writes the events at the positions it got. So, per team:

- positions are given in commit order: a transaction gets its positions only after the
  one before it (on that team) has committed or rolled back;
- they are gap-free: a rolled-back transaction rolls its counter back too;
- a reader that has seen position ``p`` has seen every position below it, whatever the
  number of concurrent writers (what an outbox keyed by a plain sequence cannot promise:
  a transaction that takes a smaller number may commit after a larger one is read).

The price: one team's writes commit one at a time from ``append`` on (about 0.3 ms each
here, on PostgreSQL); different teams do not wait for each other. On SQLite there is one
writer at a time anyway.

Readers (``read_after``) page through a team's events by position; ``prune`` drops those
older than the retention, and ``oldest_position`` tells a reader whose cursor is older
than that to resync.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, bindparam, exists, func, literal_column, true, union_all
from sqlalchemy import select as core_select
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import conflict_insert, session_dialect
from store.events import CatalogKind, EntryEvent, EventKind, EventLog, Subject
from store.models import TeamEvent, TeamPosition, Webhook, metadata

POSITIONS: Table = metadata.tables["team_positions"]
EVENTS: Table = metadata.tables["team_events"]


def raise_counter(dialect: str, team_id: Any, count: Any, source: Any = None) -> Any:
    """The upsert that raises a team's counter by ``count``, returning the new last
    position: of values, or of the row of ``source`` (a CTE whose column is ``team_id``)."""
    insert = conflict_insert(dialect)
    if source is None:
        stmt = insert(POSITIONS).values(team_id=team_id, position=count)
    else:
        stmt = insert(POSITIONS).from_select(
            ["team_id", "position"],
            core_select(team_id, literal_column(str(int(count)))).select_from(source),
        )
    return stmt.on_conflict_do_update(
        index_elements=[POSITIONS.c.team_id],
        set_={"position": POSITIONS.c.position + stmt.excluded.position},
    ).returning(POSITIONS.c.position)


def row_values(event: EntryEvent) -> dict[str, Any]:
    """The outbox row of a positioned event, by column name."""
    assert event.position is not None
    return {
        "team_id": event.team_id,
        "position": event.position,
        "kind": event.kind.value,
        "subject": event.subject.value,
        "subject_id": event.entry_id,
        "user_id": event.user_id,
        "version": event.version,
        "occurred_at": event.occurred_at,
    }


def of_row(row: TeamEvent) -> EntryEvent:
    subject = Subject(row.subject)
    return EntryEvent(
        EventKind(row.kind) if subject is Subject.ENTRY else CatalogKind(row.kind),
        row.subject_id,
        row.team_id,
        row.user_id,
        row.version or 0,
        row.occurred_at,
        subject,
        row.position,
    )


async def append(session: AsyncSession, events: EventLog) -> None:
    """Give ``events`` their positions (in place) and write them, in the caller's
    transaction. Teams are taken in id order (their counters are locks)."""
    if not events:
        return
    dialect = session_dialect(session)
    by_team: dict[str, list[int]] = defaultdict(list)
    for index, event in enumerate(events):
        by_team[event.team_id].append(index)
    connection = await session.connection()
    if dialect == "postgresql" and len(by_team) == 1:
        # The common case in one statement: the counter, then the events at the positions
        # it returns. The counter's lock is then held for this statement and the commit.
        (team_id,) = by_team
        params: dict[str, Any] = {"team_id": team_id}
        for k, event in enumerate(events):
            row = row_values(dataclasses.replace(event, position=0))
            params |= {f"{name}_{k}": row[name] for name in _PLACED_NAMES}
        placed = await connection.execute(_placed_insert(len(events)), params)
        for index, position in enumerate(sorted(int(p) for p in placed.scalars())):
            events[index] = dataclasses.replace(events[index], position=position)
        return
    for team_id in sorted(by_team):
        indexes = by_team[team_id]
        last = (
            await connection.execute(raise_counter(dialect, team_id, len(indexes)))
        ).scalar_one()
        first = int(last) - len(indexes) + 1
        for offset, index in enumerate(indexes):
            events[index] = dataclasses.replace(events[index], position=first + offset)
    await connection.execute(EVENTS.insert(), [row_values(e) for e in events])


_PLACED_NAMES = [c.name for c in EVENTS.columns if c.name != "position"]


@functools.lru_cache(maxsize=16)
def _placed_insert(count: int) -> Any:
    """PostgreSQL: raise a team's counter by ``count`` and insert ``count`` events at the
    positions it gives, in their order; returns the positions. Parameters: ``team_id``,
    and each column of event ``k`` as ``<column>_<k>`` (one statement per count, cached)."""
    counter = raise_counter("postgresql", bindparam("team_id", type_=String()), count).cte(
        "counter"
    )
    selects = [
        core_select(
            literal_column(str(k)).label("k"),
            *(
                bindparam(f"{name}_{k}", type_=EVENTS.c[name].type).label(name)
                for name in _PLACED_NAMES
            ),
        )
        for k in range(count)
    ]
    rows = (selects[0] if count == 1 else union_all(*selects)).subquery("given")
    position = counter.c.position - (count - 1) + rows.c.k
    return (
        EVENTS.insert()
        .from_select(
            [c.name for c in EVENTS.columns],
            core_select(
                *(position if c.name == "position" else rows.c[c.name] for c in EVENTS.columns)
            ).select_from(counter.join(rows, true())),
        )
        .returning(EVENTS.c.position)
        .add_cte(counter)
    )


async def read_after(
    session: AsyncSession, *, team_id: str, after: int, limit: int
) -> list[EntryEvent]:
    """The team's events after position ``after``, oldest first, at most ``limit``."""
    stmt = (
        select(TeamEvent)
        .where(TeamEvent.team_id == team_id, col(TeamEvent.position) > after)
        .order_by(col(TeamEvent.position))
        .limit(limit)
    )
    return [of_row(r) for r in (await session.exec(stmt)).all()]


async def last_positions(session: AsyncSession, team_ids: Sequence[str]) -> dict[str, int]:
    """Each team's last position (teams without events are left out)."""
    if not team_ids:
        return {}
    stmt = select(TeamPosition.team_id, TeamPosition.position).where(
        col(TeamPosition.team_id).in_(team_ids)
    )
    return {t: int(p) for t, p in (await session.exec(stmt)).all()}


async def last_position(session: AsyncSession, team_id: str) -> int:
    """The team's last position (0 before its first event)."""
    return (await last_positions(session, [team_id])).get(team_id, 0)


async def oldest_position(session: AsyncSession, *, team_id: str) -> int:
    """The oldest position a reader can still read from: the team's first kept event, or
    the next one to come when none is kept."""
    stmt = select(func.min(col(TeamEvent.position))).where(TeamEvent.team_id == team_id)
    kept = (await session.exec(stmt)).one()
    if kept is not None:
        return int(kept)
    last = await last_position(session, team_id)
    return last + 1


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Drop the events that occurred before ``before`` (the retention), but none that an
    enabled webhook of the team has yet to deliver (``store.webhooks``)."""
    pending = exists().where(
        col(Webhook.team_id) == col(TeamEvent.team_id),
        col(Webhook.enabled),
        col(Webhook.cursor) < col(TeamEvent.position),
    )
    result = await session.exec(
        delete(TeamEvent).where(col(TeamEvent.occurred_at) < before, ~pending)
    )
    return int(result.rowcount or 0)
