"""Build test data through the store's own commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from store import accounts, tokens
from store.db import Database
from store.ids import new_id
from store.models import Category, Role, Task, TimeEntry


@dataclass
class Member:
    id: str
    token: str
    email: str


@dataclass
class TeamWorld:
    id: str
    owner: Member
    admin: Member
    member: Member
    categories: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)


async def make_user(db: Database, nickname: str, email: str) -> Member:
    async with db.write() as s:
        user = await accounts.create_user(s, nickname=nickname, email=email)
        token = await tokens.create_token(s, user_id=user.id, name="test")
        await s.commit()
    return Member(id=user.id, token=token, email=email)


async def make_team(db: Database, name: str, *, prefix: str, **team_kwargs: object) -> TeamWorld:
    """A team with an owner, an admin and a member, a category tree root > child, two tasks."""
    owner = await make_user(db, f"{prefix} Owner", f"{prefix}-owner@example.test")
    admin = await make_user(db, f"{prefix} Admin", f"{prefix}-admin@example.test")
    member = await make_user(db, f"{prefix} Member", f"{prefix}-member@example.test")
    async with db.write() as s:
        team = await accounts.create_team(s, name=name, owner_id=owner.id, **team_kwargs)  # type: ignore[arg-type]
        await accounts.add_member(s, team_id=team.id, user_id=admin.id, role=Role.ADMIN.value)
        await accounts.add_member(
            s, team_id=team.id, user_id=member.id, role=Role.MEMBER.value, rate_cents=9000
        )
        root = Category(id=new_id(), team_id=team.id, key="dev", title="Development", position=1)
        s.add(root)
        await s.flush()
        child = Category(
            id=new_id(), team_id=team.id, parent_id=root.id, key="api", title="API", billable=False
        )
        s.add(child)
        await s.flush()
        t1 = Task(
            id=new_id(), team_id=team.id, category_id=child.id, key="T-1", title="Cursor paging"
        )
        t2 = Task(id=new_id(), team_id=team.id, category_id=root.id, key="T-2", title="Docs")
        s.add_all([t1, t2])
        await s.commit()
    world = TeamWorld(id=team.id, owner=owner, admin=admin, member=member)
    world.categories = {"dev": root.id, "api": child.id}
    world.tasks = {"T-1": t1.id, "T-2": t2.id}
    return world


async def add_entries(
    db: Database,
    *,
    team_id: str,
    user_id: str,
    task_id: str | None = None,
    category_id: str | None = None,
    count: int,
    start: datetime | None = None,
    seconds: int = 1800,
    billable: bool = True,
    rate_cents: int = 6000,
) -> list[str]:
    """``count`` stopped entries an hour apart, the newest first at ``start``."""
    start = start or datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    ids = []
    async with db.write() as s:
        for i in range(count):
            began = start - timedelta(hours=i)
            entry = TimeEntry(
                id=new_id(),
                team_id=team_id,
                user_id=user_id,
                scope_type="TASK" if task_id else "CATEGORY",
                task_id=task_id,
                category_id=None if task_id else category_id,
                started_at=began,
                stopped_at=began + timedelta(seconds=seconds),
                duration_seconds=seconds,
                work_date=began.date(),
                billable=billable,
                rate_snapshot_cents=rate_cents,
            )
            s.add(entry)
            ids.append(entry.id)
        await s.commit()
    return ids


async def add_running_entry(db: Database, w: TeamWorld, user_id: str, began: datetime) -> str:
    """A running timer on T-1 that began at ``began`` (further back than startTimer
    allows: the server's stop at a team's limit needs one)."""
    async with db.write() as s:
        s.add(
            TimeEntry(
                id=(entry_id := new_id()),
                team_id=w.id,
                user_id=user_id,
                scope_type="TASK",
                task_id=w.tasks["T-1"],
                started_at=began,
                work_date=began.date(),
                billable=True,
                input_type="REALTIME",
            )
        )
        await s.commit()
    return entry_id
