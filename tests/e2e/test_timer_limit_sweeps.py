"""Two real server instances sharing one PostgreSQL database both sweep for timers past
their team's limit (``Team.maxTimerHours``) every 50 ms: each timer is stopped exactly
once, at exactly start + the limit, with one STOPPED event (``store.timers.stop_overdue``
takes the entries ``FOR UPDATE SKIP LOCKED``)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from store import accounts
from store.db import Database
from store.ids import new_id
from store.models import Role, TeamEvent, TimeEntry
from tests.e2e.server import running_server
from tests.factories import make_team, make_user

pytestmark = pytest.mark.e2e

TIMERS = 12


async def test_two_sweeping_instances_stop_each_timer_once(postgres_clean_url: str) -> None:
    db = Database(postgres_clean_url)
    try:
        w = await make_team(db, "Acme", prefix="a", max_timer_hours=1)
        users = [await make_user(db, f"u{n}", f"u{n}@example.test") for n in range(TIMERS)]
        async with db.write() as s:
            for user in users:
                await accounts.add_member(s, team_id=w.id, user_id=user.id, role=Role.MEMBER.value)
            await s.commit()
        env = {"PUNCHCLOCK_TIMER_SWEEP_SECONDS": "0.05"}
        with (
            running_server(postgres_clean_url, env=env),
            running_server(postgres_clean_url, env=env),
        ):
            # Both instances sweep; half the timers are past the limit already, the
            # others reach it within the next seconds, while both keep sweeping.
            now = datetime.now(UTC).replace(microsecond=0)
            began = {
                new_id(): now
                - timedelta(hours=1)
                + timedelta(seconds=(n % 2) * (1 + n // 4))
                - timedelta(seconds=1)
                for n in range(TIMERS)
            }
            async with db.write() as s:
                for (entry_id, start), user in zip(began.items(), users, strict=True):
                    s.add(
                        TimeEntry(
                            id=entry_id,
                            team_id=w.id,
                            user_id=user.id,
                            scope_type="TASK",
                            task_id=w.tasks["T-1"],
                            started_at=start,
                            work_date=start.date(),
                            billable=True,
                            input_type="REALTIME",
                        )
                    )
                await s.commit()
            deadline = time.monotonic() + 90
            while True:
                async with db.read() as s:
                    running = (
                        await s.exec(
                            select(TimeEntry.id).where(
                                TimeEntry.team_id == w.id,
                                TimeEntry.stopped_at.is_(None),  # type: ignore[union-attr]
                            )
                        )
                    ).all()
                if not running:
                    break
                assert time.monotonic() < deadline, f"{len(running)} timers still running"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)  # both instances sweep on: a second stop would show now
        async with db.read() as s:
            rows = {r.id: r for r in (await s.exec(select(TimeEntry))).all()}
            events = (
                await s.exec(
                    select(TeamEvent).where(TeamEvent.team_id == w.id, TeamEvent.subject == "ENTRY")
                )
            ).all()
        assert sorted(rows) == sorted(began)
        for entry_id, start in began.items():
            row = rows[entry_id]
            assert row.stopped_at == start + timedelta(hours=1), entry_id
            assert row.duration_seconds == 3600 and row.auto_stopped and row.version == 2
        stops = sorted((e.subject_id, e.kind, e.version) for e in events)
        assert stops == sorted((entry_id, "STOPPED", 2) for entry_id in began)
    finally:
        await db.dispose()
