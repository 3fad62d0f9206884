"""Commands on categories and tasks, and task/category look-up by key for timers."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, rules
from store.accounts import check_name
from store.errors import DomainError, ErrorCode
from store.events import CatalogKind, EventLog, Subject
from store.ids import new_id
from store.models import Category, Membership, Task, TaskState, Team

MAX_KEY = 255
MAX_TASK_KEY = 1000
MAX_URL = 2000
MAX_DESCRIPTION = 10_000
UNSET: object = object()


def _f(*names: str) -> tuple[str, ...]:
    return ("input", *names)


def check_key(key: str, field: tuple[str, ...], limit: int) -> str:
    if not key.strip() or len(key) > limit:
        raise DomainError(ErrorCode.VALIDATION, f"key must be 1 to {limit} characters.", field)
    return key


def check_rate(rate: int | None, field: tuple[str, ...]) -> int | None:
    """A rate in cents per hour, or None (no rate of its own: the next one applies)."""
    if rate is not None and not 0 <= rate <= 100_000_000:
        raise DomainError(ErrorCode.VALIDATION, "rateCents is 0 to 100000000.", field)
    return rate


def _changed(
    events: EventLog | None,
    kind: CatalogKind,
    subject: Subject,
    row: Category | Task,
    now: datetime,
) -> None:
    """The event of a catalogue change (``store.outbox`` writes it in the transaction)."""
    if events is not None:
        events.catalog(kind, subject, team_id=row.team_id, subject_id=row.id, at=now)


async def category_by_key(session: AsyncSession, *, team_id: str, key: str) -> Category | None:
    stmt = select(Category).where(Category.team_id == team_id, Category.key == key)
    return (await session.exec(stmt)).first()


async def task_by_key(session: AsyncSession, *, team_id: str, key: str) -> Task | None:
    stmt = select(Task).where(Task.team_id == team_id, Task.key == key)
    return (await session.exec(stmt)).first()


async def catalogue_team(
    session: AsyncSession, *, team_id: str, actor_id: str
) -> tuple[Team, Membership]:
    """The team and the actor's membership, the team locked for catalogue changes
    (``store.locks`` step 2): catalogue changes of a team run one at a time."""
    member = await session.get(Membership, (team_id, actor_id))
    team = await locks.team_for_catalogue(session, team_id) if member is not None else None
    if team is None or member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", _f("teamId"))
    rules.check_team_active(team, _f("teamId"))
    return team, member


async def _admin_team(session: AsyncSession, *, team_id: str, actor_id: str) -> Team:
    team, member = await catalogue_team(session, team_id=team_id, actor_id=actor_id)
    if not rules.is_admin(member):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins manage categories.", _f("teamId"))
    return team


async def _as_not_found(check: Awaitable[Team] | None, message: str) -> None:
    """Run the team check of an update; a missing row or a team the actor is not in
    both read as the row not existing (field ``input.id``)."""
    if check is None:
        raise DomainError(ErrorCode.NOT_FOUND, message, _f("id"))
    try:
        await check
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise DomainError(ErrorCode.NOT_FOUND, message, _f("id")) from exc
        if exc.code == ErrorCode.TEAM_ARCHIVED:  # the row's team: named by its id
            raise DomainError(exc.code, exc.message, _f("id")) from exc
        raise


@dataclass
class CategoryFields:
    title: str | None = None
    key: object = UNSET  # str | None
    parent_id: object = UNSET  # str | None
    color: object = UNSET  # int | None
    position: int | None = None
    archived: bool | None = None
    billable: object = UNSET  # bool | None
    rate_cents: object = UNSET  # int | None


async def _apply_category(
    session: AsyncSession, category: Category, fields: CategoryFields, *, team_id: str
) -> None:
    if fields.title is not None:
        category.title = check_name(fields.title, _f("title"))
    if fields.key is not UNSET:
        key = fields.key
        assert key is None or isinstance(key, str)
        if key is not None:
            check_key(key, _f("key"), MAX_KEY)
            other = await category_by_key(session, team_id=team_id, key=key)
            if other is not None and other.id != category.id:
                raise DomainError(
                    ErrorCode.VALIDATION, "A category with this key exists.", _f("key")
                )
        category.key = key
    if fields.parent_id is not UNSET:
        parent_id = fields.parent_id
        assert parent_id is None or isinstance(parent_id, str)
        if parent_id is not None:
            await rules.category_of_team(
                session, team_id=team_id, category_id=parent_id, field=_f("parentId")
            )
            chain = rules.chain_from(await rules.team_categories(session, team_id), parent_id)
            if any(c.id == category.id for c in chain):
                raise DomainError(
                    ErrorCode.VALIDATION, "A category cannot be its own ancestor.", _f("parentId")
                )
        category.parent_id = parent_id
    if fields.color is not UNSET:
        assert fields.color is None or isinstance(fields.color, int)
        category.color = fields.color
    if fields.position is not None:
        category.position = fields.position
    if fields.archived is not None:
        category.archived = fields.archived
    if fields.billable is not UNSET:
        assert fields.billable is None or isinstance(fields.billable, bool)
        category.billable = fields.billable
    if fields.rate_cents is not UNSET:
        assert fields.rate_cents is None or isinstance(fields.rate_cents, int)
        category.rate_cents = check_rate(fields.rate_cents, _f("rateCents"))


async def create_category(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    fields: CategoryFields,
    now: datetime,
    events: EventLog | None = None,
) -> Category:
    await _admin_team(session, team_id=team_id, actor_id=actor_id)
    if fields.title is None:
        raise DomainError(ErrorCode.VALIDATION, "title is required.", _f("title"))
    category = Category(id=new_id(), team_id=team_id, title="", created_at=now, updated_at=now)
    await _apply_category(session, category, fields, team_id=team_id)
    session.add(category)
    await session.flush()
    _changed(events, CatalogKind.CREATED, Subject.CATEGORY, category, now)
    return category


async def update_category(
    session: AsyncSession,
    *,
    actor_id: str,
    category_id: str,
    fields: CategoryFields,
    now: datetime,
    events: EventLog | None = None,
) -> Category:
    category = await session.get(Category, category_id)
    await _as_not_found(
        _admin_team(session, team_id=category.team_id, actor_id=actor_id) if category else None,
        "No such category.",
    )
    category = await locks.catalogue_row(session, Category, category_id)
    assert category is not None
    before = category.model_dump()
    await _apply_category(session, category, fields, team_id=category.team_id)
    if category.model_dump() == before:
        return category
    category.updated_at = now
    session.add(category)
    await session.flush()
    _changed(events, CatalogKind.UPDATED, Subject.CATEGORY, category, now)
    return category


@dataclass
class TaskFields:
    key: str | None = None
    title: str | None = None
    url: object = UNSET  # str | None
    category_id: object = UNSET  # str | None
    state: str | None = None
    description: object = UNSET  # str | None
    archived: bool | None = None  # admins only


async def _task_team(
    session: AsyncSession, *, team_id: str, actor_id: str, archiving: bool = False
) -> Team:
    """The team of a task change; archiving or restoring a task is for admins and owners
    (as archiving a category is), other changes too where the team's tasks are read-only."""
    team, member = await catalogue_team(session, team_id=team_id, actor_id=actor_id)
    if archiving and not rules.is_admin(member):
        raise DomainError(
            ErrorCode.FORBIDDEN, "Only admins archive or restore tasks.", _f("archived")
        )
    if team.tasks_readonly and not rules.is_admin(member):
        raise DomainError(
            ErrorCode.TASKS_READONLY, "Tasks of this team are managed by admins.", _f("teamId")
        )
    return team


async def _apply_task(session: AsyncSession, task: Task, fields: TaskFields, now: datetime) -> None:
    if fields.key is not None:
        check_key(fields.key, _f("key"), MAX_TASK_KEY)
        other = await task_by_key(session, team_id=task.team_id, key=fields.key)
        if other is not None and other.id != task.id:
            raise DomainError(ErrorCode.VALIDATION, "A task with this key exists.", _f("key"))
        task.key = fields.key
    if fields.title is not None:
        task.title = check_name(fields.title, _f("title"), 500)
    if fields.url is not UNSET:
        url = fields.url
        assert url is None or isinstance(url, str)
        if url is not None and len(url) > MAX_URL:
            raise DomainError(
                ErrorCode.VALIDATION, f"url is at most {MAX_URL} characters.", _f("url")
            )
        task.url = url
    if fields.category_id is not UNSET:
        category_id = fields.category_id
        assert category_id is None or isinstance(category_id, str)
        if category_id is not None:
            category = await rules.category_of_team(
                session, team_id=task.team_id, category_id=category_id, field=_f("categoryId")
            )
            chain = await rules.category_chain(
                session, team_id=task.team_id, category_id=category.id
            )
            rules.check_not_archived(chain, _f("categoryId"))
        task.category_id = category_id
    if fields.state is not None:
        if fields.state not in TaskState.__members__:
            raise DomainError(ErrorCode.VALIDATION, "state is OPEN or CLOSED.", _f("state"))
        task.state = fields.state
    if fields.description is not UNSET:
        text = fields.description
        assert text is None or isinstance(text, str)
        if text is not None and len(text) > MAX_DESCRIPTION:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"description is at most {MAX_DESCRIPTION} characters.",
                _f("description"),
            )
        task.description = text
    if fields.archived is not None:  # archived again: it keeps its first instant
        task.archived_at = (task.archived_at or now) if fields.archived else None


async def create_task(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    fields: TaskFields,
    now: datetime,
    events: EventLog | None = None,
) -> Task:
    await _task_team(session, team_id=team_id, actor_id=actor_id)
    if fields.key is None or fields.title is None:
        raise DomainError(ErrorCode.VALIDATION, "key and title are required.", _f("key"))
    task = Task(id=new_id(), team_id=team_id, key="", title="", created_at=now, updated_at=now)
    await _apply_task(session, task, fields, now)
    session.add(task)
    await session.flush()
    _changed(events, CatalogKind.CREATED, Subject.TASK, task, now)
    return task


async def update_task(
    session: AsyncSession,
    *,
    actor_id: str,
    task_id: str,
    fields: TaskFields,
    now: datetime,
    events: EventLog | None = None,
) -> Task:
    task = await session.get(Task, task_id)
    await _as_not_found(
        _task_team(
            session,
            team_id=task.team_id,
            actor_id=actor_id,
            archiving=fields.archived is not None,
        )
        if task
        else None,
        "No such task.",
    )
    task = await locks.catalogue_row(session, Task, task_id)
    assert task is not None
    before = task.model_dump()
    await _apply_task(session, task, fields, now)
    if task.model_dump() == before:
        return task
    task.updated_at = now
    session.add(task)
    await session.flush()
    _changed(events, CatalogKind.UPDATED, Subject.TASK, task, now)
    return task
