"""Reads of time entries and comments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.entry_rules import description_contains_sql, is_live
from store.models import Task, TimeEntry
from store.tag_rules import TagMatch, tag_match_sql, untagged_sql


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which entries to read. ``team_ids`` is the tenancy bound and always applies."""

    team_ids: Sequence[str]
    user_ids: Sequence[str] | None = None
    task_id: str | None = None
    task_ids: Sequence[str] | None = None  # with ``task_id`` too: both apply
    category_ids: Sequence[str] | None = None  # a category and its descendants
    scope_type: str | None = None
    started_from: datetime | None = None  # inclusive
    started_to: datetime | None = None  # exclusive
    billable: bool | None = None
    statuses: Sequence[str] | None = None
    input_type: str | None = None
    running: bool | None = None
    updated_since: datetime | None = None
    include_deleted: bool = False
    deleted_since: datetime | None = None
    description_contains: str | None = None  # ``entry_rules.description_contains``
    tag_ids: Sequence[str] | None = None  # ``tags.tag_match`` by ``tag_match``
    tag_match: TagMatch = TagMatch.ANY
    untagged: bool | None = None  # ``tags.untagged``


def live_entries() -> ColumnElement[bool]:
    """Entries that are running and not deleted (``entry_rules.is_live``)."""
    return is_live(TimeEntry.__table__)  # type: ignore[attr-defined]


def entry_conditions(f: EntryFilter) -> list[ColumnElement[bool]]:
    """The WHERE clause of a filter, shared by pages, counts and reports."""
    c: list[ColumnElement[bool]] = [col(TimeEntry.team_id).in_(f.team_ids)]
    if f.user_ids is not None:
        c.append(col(TimeEntry.user_id).in_(f.user_ids))
    if f.task_id is not None:
        c.append(col(TimeEntry.task_id) == f.task_id)
    if f.task_ids is not None:
        c.append(col(TimeEntry.task_id).in_(f.task_ids))
    if f.category_ids is not None:
        tasks_below = select(Task.id).where(col(Task.category_id).in_(f.category_ids))
        c.append(
            or_(
                col(TimeEntry.category_id).in_(f.category_ids),
                col(TimeEntry.task_id).in_(tasks_below),
            )
        )
    if f.scope_type is not None:
        c.append(col(TimeEntry.scope_type) == f.scope_type)
    if f.started_from is not None:
        c.append(col(TimeEntry.started_at) >= f.started_from)
    if f.started_to is not None:
        c.append(col(TimeEntry.started_at) < f.started_to)
    if f.billable is not None:
        c.append(col(TimeEntry.billable) == f.billable)
    if f.statuses is not None:
        c.append(col(TimeEntry.status).in_(f.statuses))
    if f.input_type is not None:
        c.append(col(TimeEntry.input_type) == f.input_type)
    # ``running`` is the timer's state; whether deleted entries count is the filter's own
    # ``includeDeleted`` (below).
    if f.running is True:
        c.append(col(TimeEntry.stopped_at).is_(None))
    elif f.running is False:
        c.append(col(TimeEntry.stopped_at).is_not(None))
    if f.description_contains:
        c.append(description_contains_sql(TimeEntry.__table__, f.description_contains))  # type: ignore[attr-defined]
    entries = TimeEntry.__table__  # type: ignore[attr-defined]
    if f.tag_ids is not None:
        c.append(tag_match_sql(entries, f.tag_ids, f.tag_match))
    if f.untagged is not None:
        c.append(untagged_sql(entries, f.untagged))
    if f.updated_since is not None:
        c.append(col(TimeEntry.updated_at) >= f.updated_since)
    if f.deleted_since is not None:
        c.append(col(TimeEntry.deleted_at) >= f.deleted_since)
    elif not f.include_deleted:
        c.append(col(TimeEntry.deleted_at).is_(None))
    return c


async def count_entries(session: AsyncSession, *, filter: EntryFilter) -> int:
    stmt = select(func.count()).select_from(TimeEntry).where(and_(*entry_conditions(filter)))
    return int((await session.exec(stmt)).one())
