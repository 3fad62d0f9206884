"""Timers: start (stopping the running one at the same instant) and stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from store import catalog, rules
from store.accounts import check_name
from store.errors import DomainError, ErrorCode
from store.events import EventKind, EventLog
from store.ids import is_ulid, new_id
from store.models import Category, InputType, Membership, Source, Task, Team, TimeEntry
from store.timesheet import check_client_id
from store.timeutil import utcnow


@dataclass(frozen=True)
class ParentCategoryRef:
    key: str
    title: str | None = None


@dataclass(frozen=True)
class TaskRef:
    key: str
    title: str | None = None
    url: str | None = None
    category_id: str | None = None
    parent_category: ParentCategoryRef | None = None


@dataclass(frozen=True)
class StartTimer:
    team_id: str
    entry_id: str | None = None
    task_id: str | None = None
    task: TaskRef | None = None
    category_id: str | None = None
    description: str | None = None
    billable: bool | None = None
    started_at: datetime | None = None


@dataclass
class Started:
    entry: TimeEntry
    stopped: TimeEntry | None
    is_new_task: bool
    replayed: bool


def _f(*names: str) -> tuple[str, ...]:
    return ("input", *names)


async def _task_for_ref(
    session: AsyncSession, *, team: Team, ref: TaskRef, now: datetime
) -> tuple[Task, bool]:
    """The task with ``ref.key``, created (with its parent category) when missing."""
    catalog.check_key(ref.key, _f("task", "key"), catalog.MAX_TASK_KEY)
    task = await catalog.task_by_key(session, team_id=team.id, key=ref.key)
    if task is not None:
        return task, False
    if team.tasks_readonly:
        raise DomainError(
            ErrorCode.TASKS_READONLY, "This team does not allow new tasks.", _f("task", "key")
        )
    category: Category | None = None
    if ref.category_id is not None:
        category = await rules.category_of_team(
            session, team_id=team.id, category_id=ref.category_id, field=_f("task", "categoryId")
        )
    elif ref.parent_category is not None:
        parent = ref.parent_category
        catalog.check_key(parent.key, _f("task", "parentCategory", "key"), catalog.MAX_KEY)
        category = await catalog.category_by_key(session, team_id=team.id, key=parent.key)
        if category is None:
            category = Category(
                id=new_id(),
                team_id=team.id,
                key=parent.key,
                title=check_name(parent.title or parent.key, _f("task", "parentCategory", "title")),
                created_at=now,
                updated_at=now,
            )
            session.add(category)
            await session.flush()
    if category is not None:
        rules.check_not_archived([category], _f("task", "categoryId"))
    task = Task(
        id=new_id(),
        team_id=team.id,
        category_id=category.id if category else None,
        key=ref.key,
        title=check_name(ref.title or ref.key, _f("task", "title"), 500),
        url=ref.url,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    return task, True


async def start_timer(
    session: AsyncSession, *, actor_id: str, data: StartTimer, digest: str, events: EventLog
) -> Started:
    team, _ = await rules.team_and_membership(
        session, team_id=data.team_id, user_id=actor_id, field=_f("teamId")
    )
    # Every timer change of this user runs one at a time, and "now" is read after the lock,
    # so the order of commits is the order of instants and entries never overlap.
    await rules.lock_user(session, actor_id)
    if data.entry_id is not None:
        stored = await check_client_id(
            session, entry_id=data.entry_id, user_id=actor_id, digest=digest
        )
        if stored is not None:
            return Started(stored, None, False, True)
    now = utcnow()
    given = [
        n
        for n, v in (
            ("taskId", data.task_id),
            ("task", data.task),
            ("categoryId", data.category_id),
        )
        if v is not None
    ]
    if len(given) != 1:
        raise DomainError(
            ErrorCode.VALIDATION,
            "Give exactly one of taskId, task or categoryId.",
            _f(*(given[1:2] or ["taskId"])),
        )
    is_new_task = False
    chain: list[Category] | None = None  # the task's category chain, read once
    if data.task is not None:
        task, is_new_task = await _task_for_ref(session, team=team, ref=data.task, now=now)
        task_id: str | None = task.id
        category_id: str | None = None
        defaults_category = task.category_id
        chain = await rules.category_chain(session, team_id=team.id, category_id=task.category_id)
        rules.check_not_archived(chain, _f("task", "key"))
    elif data.task_id is not None:
        task = await rules.task_of_team(
            session, team_id=team.id, task_id=data.task_id, field=_f("taskId")
        )
        chain = await rules.category_chain(session, team_id=team.id, category_id=task.category_id)
        rules.check_not_archived(chain, _f("taskId"))
        task_id, category_id, defaults_category = task.id, None, task.category_id
    else:
        assert data.category_id is not None
        category = await rules.category_of_team(
            session, team_id=team.id, category_id=data.category_id, field=_f("categoryId")
        )
        rules.check_not_archived([category], _f("categoryId"))
        task_id, category_id, defaults_category = None, category.id, category.id
    started_at = (data.started_at or now).replace(microsecond=0)
    rules.check_start(started_at, now=now, ahead=rules.FUTURE_SKEW, field=_f("startedAt"))
    rules.check_period_open(team, started_at, _f("startedAt"))
    description = rules.check_description(data.description, _f("description"))

    stopped = await rules.running_entry_of(session, actor_id)
    if stopped is not None:
        if started_at < stopped.started_at:
            raise DomainError(
                ErrorCode.VALIDATION,
                "startedAt lies before the start of your running timer.",
                _f("startedAt"),
            )
        _stop(stopped, started_at, now, events)
        await session.flush()  # the running-entry index admits the new one only after this

    entry = await rules.new_entry(
        session,
        team=team,
        user_id=actor_id,
        entry_id=data.entry_id,
        task_id=task_id,
        category_id=category_id,
        defaults_category=defaults_category,
        started_at=started_at,
        description=description,
        explicit_billable=data.billable,
        input_type=InputType.REALTIME.value,
        source=Source.API.value,
        digest=digest,
        now=now,
        chain=chain,
    )
    session.add(entry)
    await session.flush()
    events.add(EventKind.STARTED, entry, now)
    return Started(entry, stopped, is_new_task, False)


def _stop(entry: TimeEntry, at: datetime, now: datetime, events: EventLog) -> None:
    entry.stopped_at = at
    entry.duration_seconds = int((at - entry.started_at).total_seconds())
    rules.touch(entry, now)
    events.add(EventKind.STOPPED, entry, now)


async def stop_timer(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_id: str | None,
    stopped_at: datetime | None,
    events: EventLog,
) -> TimeEntry:
    if entry_id is not None:
        entry = await session.get(TimeEntry, entry_id) if is_ulid(entry_id) else None
        member = await session.get(Membership, (entry.team_id, actor_id)) if entry else None
        if entry is None or member is None or entry.deleted_at is not None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such time entry.", _f("timeEntryId"))
        if entry.user_id != actor_id and not rules.is_admin(member):
            raise DomainError(
                ErrorCode.FORBIDDEN, "Members stop only their own timers.", _f("timeEntryId")
            )
        owner_id = entry.user_id
    else:
        owner_id = actor_id
    await rules.lock_user(session, owner_id)
    now = utcnow()
    entry_or_none = (
        await session.get(TimeEntry, entry_id, populate_existing=True)
        if entry_id is not None
        else await rules.running_entry_of(session, actor_id)
    )
    if entry_or_none is None or entry_or_none.stopped_at is not None:
        raise DomainError(ErrorCode.TIMER_NOT_RUNNING, "No timer is running.", _f("timeEntryId"))
    entry = entry_or_none
    team = await session.get(Team, entry.team_id)
    assert team is not None
    if entry.status in rules.FROZEN_STATUSES:
        raise DomainError(
            ErrorCode.ENTRY_LOCKED, f"The entry is {entry.status}.", _f("timeEntryId")
        )
    at = (stopped_at or now).replace(microsecond=0)
    if at < entry.started_at:
        raise DomainError(ErrorCode.VALIDATION, "stoppedAt lies before the start.", _f("stoppedAt"))
    if at > now + rules.FUTURE_SKEW:
        raise DomainError(ErrorCode.VALIDATION, "stoppedAt lies in the future.", _f("stoppedAt"))
    _stop(entry, at, now, events)
    session.add(entry)
    await session.flush()
    return entry
