"""Each rule of ``store.entry_rules`` that SQL evaluates too: the SQL builder gives what
the Python function gives, row by row, on both databases. And the server's stop at 24
hours, swept by several transactions at once, stops each timer once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, String, literal, select
from sqlmodel import select as model_select

from store import entry_rules, timers
from store.db import Database
from store.events import EventLog
from store.ids import new_id
from store.models import Task, TimeEntry, metadata
from tests.factories import make_team

NOW = datetime(2025, 6, 1, 12, 0, 0, 400_000, tzinfo=UTC)
ENTRIES = metadata.tables["time_entries"]
TASKS = metadata.tables["tasks"]


def _entry(world_id: str, user_id: str, **kw: object) -> TimeEntry:
    started = kw.pop("started_at", NOW - timedelta(hours=1))
    assert isinstance(started, datetime)
    return TimeEntry(
        id=new_id(),
        team_id=world_id,
        user_id=user_id,
        scope_type="TASK" if kw.get("task_id") else "CATEGORY",
        started_at=started,
        work_date=started.date(),
        billable=True,
        **kw,  # type: ignore[arg-type]
    )


async def test_sql_and_python_agree_on_every_entry(db: Database) -> None:
    w = await make_team(db, "Acme", prefix="a")
    async with db.write() as s:
        bare = Task(id=new_id(), team_id=w.id, key="BARE", title="No category")
        s.add(bare)
        await s.flush()
        # One running entry per user at most: the running ones go to fresh users' rows.
        users = [w.member.id, w.admin.id, w.owner.id]
        rows = [
            _entry(
                w.id,
                users[0],
                task_id=w.tasks["T-1"],
                duration_seconds=60,
                stopped_at=NOW - timedelta(minutes=59),
            ),
            _entry(
                w.id,
                users[0],
                task_id=bare.id,
                duration_seconds=61,
                stopped_at=NOW - timedelta(minutes=58),
            ),
            _entry(
                w.id,
                users[0],
                category_id=w.categories["dev"],
                duration_seconds=62,
                stopped_at=NOW - timedelta(minutes=57),
                frozen_rounded_seconds=900,
                deleted_at=NOW,
            ),
            # Running: a fraction of a second, past the 24-hour limit, in the future.
            _entry(
                w.id,
                users[0],
                task_id=w.tasks["T-2"],
                started_at=NOW - timedelta(seconds=90, microseconds=999_999),
            ),
            _entry(
                w.id,
                users[1],
                category_id=w.categories["api"],
                started_at=NOW - timedelta(hours=30),
            ),
            _entry(w.id, users[2], task_id=w.tasks["T-1"], started_at=NOW + timedelta(seconds=5)),
        ]
        s.add_all(rows)
        await s.commit()
    async with db.read() as s:
        dialect = s.bind.dialect.name
        joined = ENTRIES.outerjoin(TASKS, TASKS.c.id == ENTRIES.c.task_id)
        stmt = select(
            ENTRIES.c.id,
            entry_rules.effective_category_sql(ENTRIES, TASKS),
            entry_rules.entry_seconds_sql(ENTRIES, dialect, NOW),
            entry_rules.is_live(ENTRIES),
            entry_rules.frozen_or(ENTRIES, "frozen_rounded_seconds", literal(7, Integer)),
        ).select_from(joined)
        conn = await s.connection()
        sql = {r[0]: tuple(r[1:]) for r in (await conn.execute(stmt)).all()}
        tasks = {t.id: t for t in (await s.exec(model_select(Task))).all()}
    assert len(sql) == len(rows)
    for row in rows:
        task = tasks.get(row.task_id) if row.task_id else None
        python = (
            entry_rules.effective_category_id(
                row.task_id, row.category_id, task.category_id if task else None
            ),
            entry_rules.entry_seconds(row.duration_seconds, row.started_at, NOW),
            entry_rules.is_live_entry(row.stopped_at, row.deleted_at),
            row.frozen_rounded_seconds if row.frozen_rounded_seconds is not None else 7,
        )
        category, seconds, live, frozen = sql[row.id]
        assert (category, int(seconds), bool(live), int(frozen)) == python, row
    # The cases the rules exist for were really there.
    values = {row.id: sql[row.id] for row in rows}
    assert [int(values[r.id][1]) for r in rows[3:]] == [90, 86400, 0]
    assert values[rows[1].id][0] is None and values[rows[0].id][0] == w.categories["api"]


async def test_concurrent_sweeps_stop_each_timer_once(db: Database) -> None:
    w = await make_team(db, "Acme", prefix="a")
    now = datetime.now(UTC).replace(microsecond=0)
    overdue = [
        _entry(w.id, user, task_id=w.tasks["T-1"], started_at=now - timedelta(hours=25 + i))
        for i, user in enumerate([w.member.id, w.admin.id, w.owner.id])
    ]
    async with db.write() as s:
        s.add_all(overdue)
        await s.commit()

    async def sweep() -> list[str]:
        events = EventLog()
        async with db.write() as s:
            await timers.stop_overdue(s, now=now, events=events)
            await s.commit()
        return [e.entry_id for e in events]

    results = await asyncio.gather(*(sweep() for _ in range(4)))
    stopped = [entry_id for result in results for entry_id in result]
    assert sorted(stopped) == sorted(e.id for e in overdue)
    async with db.read() as s:
        for e in overdue:
            row = await s.get(TimeEntry, e.id)
            assert row is not None and row.auto_stopped and row.duration_seconds == 86400
            assert row.stopped_at == e.started_at + timedelta(hours=24) and row.version == 2


# Every code point but NUL (PostgreSQL text cannot hold it) and the surrogates.
EVERY_CHARACTER = "".join(chr(c) for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000)


async def test_fold_case_is_the_databases_own_for_every_code_point(db: Database) -> None:
    """``fold_case`` in SQL (PostgreSQL's ``lower()`` under the cluster's UTF-8 ctype;
    the registered function on SQLite) gives what the Python function gives, for each
    of the 1,112,063 characters of Unicode: one letter for one letter, so a match never
    depends on the database."""
    async with db.read() as s:
        conn = await s.connection()
        stmt = select(entry_rules._folded(literal(EVERY_CHARACTER, String())))
        folded = (await conn.execute(stmt)).scalar_one()
    python = entry_rules.fold_case(EVERY_CHARACTER)
    assert len(folded) == len(python) == len(EVERY_CHARACTER)
    differ = [
        (hex(ord(c)), a, b)
        for c, a, b in zip(EVERY_CHARACTER, folded, python, strict=True)
        if a != b
    ]
    assert differ == []
    # What it is for: letters beyond ASCII, which SQLite's own lower() leaves alone.
    assert entry_rules.fold_case("ÄRGER ΟΔΟΣ İ ẞ Ǆ") == "ärger οδοσ i ß ǆ"


async def test_description_contains_in_sql_and_python_agree(db: Database) -> None:
    w = await make_team(db, "Acme", prefix="a")
    descriptions = [
        "Ärger mit X",
        "ärger",
        "100% done",
        "snake_case",
        "C:\\tmp",
        "ΟΔΟΣ",
        "straße",
        "",
        None,
    ]
    async with db.write() as s:
        rows = [
            _entry(
                w.id,
                w.member.id,
                task_id=w.tasks["T-1"],
                duration_seconds=60,
                stopped_at=NOW,
                description=d,
                started_at=NOW - timedelta(hours=i + 1),
            )
            for i, d in enumerate(descriptions)
        ]
        s.add_all(rows)
        await s.commit()
    needles = ["ÄRGER", "ärger", "%", "0% d", "_", "e_c", "\\", "οδοσ", "STRASSE", "STRAẞE", "x"]
    needles += ["", "'", "%%", "a_b"]
    async with db.read() as s:
        conn = await s.connection()
        for needle in needles:
            stmt = select(ENTRIES.c.id).where(entry_rules.description_contains_sql(ENTRIES, needle))
            sql = {r[0] for r in (await conn.execute(stmt)).all()}
            python = {r.id for r in rows if entry_rules.description_contains(r.description, needle)}
            assert sql == python, needle
    found = {
        n: {r.description for r in rows if entry_rules.description_contains(r.description, n)}
        for n in ("ÄRGER", "%", "_", "STRAẞE", "")
    }
    assert found == {
        "ÄRGER": {"Ärger mit X", "ärger"},
        "%": {"100% done"},
        "_": {"snake_case"},
        "STRAẞE": {"straße"},  # ẞ folds to ß; "ss" is not "ß" (no full case folding)
        "": set(descriptions) - {None},
    }
