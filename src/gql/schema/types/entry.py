"""TimeEntry, Comment and the entry filter."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gql.schema.context import Context, Info
from gql.schema.types.enums import EntryStatus, InputType, ScopeType, Source
from gql.schema.types.pagination import (
    Connection,
    check_first,
    decode_entry_cursor,
    empty_connection,
    entry_cursor,
)
from store import directory, entries, models
from store.entries import EntryFilter
from store.entry_rules import (
    effective_category_id,
    entry_amount_cents,
    entry_rounded_seconds,
    entry_seconds,
)

if TYPE_CHECKING:
    from gql.schema.types.team import Category, Task, Team
    from gql.schema.types.user import User

TeamT = Annotated["Team", strawberry.lazy("gql.schema.types.team")]
TaskT = Annotated["Task", strawberry.lazy("gql.schema.types.team")]
CategoryT = Annotated["Category", strawberry.lazy("gql.schema.types.team")]
UserT = Annotated["User", strawberry.lazy("gql.schema.types.user")]


@strawberry.type
class ExternalRef:
    provider: str
    external_type: str
    external_id: str


@strawberry.input(description="Narrows time entries; `from` is inclusive, `to` exclusive.")
class RelatedTimeEntryFilter:
    user_id: strawberry.ID | None = None
    task_id: strawberry.ID | None = None
    category_id: strawberry.ID | None = strawberry.field(
        default=None, description="The category, its descendants and their tasks."
    )
    scope_type: ScopeType | None = None
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None
    billable: bool | None = None
    status: list[EntryStatus] | None = None
    input_type: InputType | None = None
    running: bool | None = None
    updated_since: datetime | None = None
    include_deleted: bool | None = None
    deleted_since: datetime | None = None


@strawberry.input(description="Time entries of one team, narrowed further.")
class TimeEntryFilter(RelatedTimeEntryFilter):
    team_id: strawberry.ID


async def store_filter(
    ctx: Context,
    f: RelatedTimeEntryFilter | None,
    *,
    team_ids: list[str],
    user_ids: list[str] | None = None,
    task_id: str | None = None,
) -> EntryFilter | None:
    """The store filter for ``f`` within ``team_ids`` (already tenancy-checked).

    None means nothing can match (e.g. a category of another team).
    """
    f = f or RelatedTimeEntryFilter()
    if not team_ids:
        return None
    if f.user_id is not None:
        user_ids = [u for u in (user_ids or [str(f.user_id)]) if u == str(f.user_id)]
    if f.task_id is not None:
        if task_id is not None and task_id != str(f.task_id):
            return None
        task_id = str(f.task_id)
    category_ids: list[str] | None = None
    if f.category_id is not None:
        category = await ctx.loaders.category.load(str(f.category_id))
        if category is None or category.team_id not in team_ids:
            return None
        team_categories = await ctx.loaders.team_categories.load(category.team_id)
        category_ids = directory.descendant_ids(team_categories, category.id)
    return EntryFilter(
        team_ids=team_ids,
        user_ids=user_ids,
        task_id=task_id,
        category_ids=category_ids,
        scope_type=f.scope_type.value if f.scope_type else None,
        started_from=f.from_,
        started_to=f.to,
        billable=f.billable,
        statuses=[s.value for s in f.status] if f.status is not None else None,
        input_type=f.input_type.value if f.input_type else None,
        running=f.running,
        updated_since=f.updated_since,
        include_deleted=bool(f.include_deleted),
        deleted_since=f.deleted_since,
    )


async def entry_connection(
    ctx: Context, ef: EntryFilter | None, first: int | None, after: str | None
) -> Connection[TimeEntry]:
    size = check_first(first)
    cursor = decode_entry_cursor(after) if after is not None else None
    if ef is None:
        return empty_connection()
    async with ctx.db.read() as session:
        rows, has_next = await entries.list_entries(session, filter=ef, first=size, after=cursor)
    ctx.loaders.prime_entries(rows)

    async def count() -> int:
        async with ctx.db.read() as session:
            return await entries.count_entries(session, filter=ef)

    return Connection.build(
        [TimeEntry.from_row(r) for r in rows],
        [entry_cursor(r.started_at, r.id) for r in rows],
        has_next=has_next,
        has_previous=after is not None,
        count=count,
    )


def format_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}"


@strawberry.type
class TimeEntry:
    row: strawberry.Private[models.TimeEntry]
    id: strawberry.ID
    scope_type: ScopeType
    started_at: datetime
    stopped_at: datetime | None
    work_date: date
    description: str | None
    billable: bool
    rate_snapshot_cents: int
    status: EntryStatus
    input_type: InputType
    source: Source
    locked_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    auto_stopped: bool = strawberry.field(
        description="Whether the server stopped this timer at its 24-hour limit."
    )

    @classmethod
    def from_row(cls, row: models.TimeEntry) -> TimeEntry:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            scope_type=ScopeType(row.scope_type),
            started_at=row.started_at,
            stopped_at=row.stopped_at,
            work_date=row.work_date,
            description=row.description,
            billable=row.billable,
            rate_snapshot_cents=row.rate_snapshot_cents,
            status=EntryStatus(row.status),
            input_type=InputType(row.input_type),
            source=Source(row.source),
            locked_at=row.locked_at,
            deleted_at=row.deleted_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            auto_stopped=row.auto_stopped,
        )

    @strawberry.field
    def running(self) -> bool:
        return self.row.stopped_at is None

    def seconds(self, now: datetime) -> int:
        return entry_seconds(self.row.duration_seconds, self.row.started_at, now)

    @strawberry.field(description="Seconds worked; for a running entry, up to now.")
    def duration_seconds(self, info: Info) -> int:
        return self.seconds(info.context.now)

    @strawberry.field(description="`durationSeconds` as H:MM.")
    def formatted_duration(self, info: Info) -> str:
        return format_duration(self.seconds(info.context.now))

    async def _rounded(self, info: Info) -> int:
        team = await info.context.loaders.team.load(self.row.team_id)
        assert team is not None
        return entry_rounded_seconds(
            self.row.frozen_rounded_seconds,
            self.seconds(info.context.now),
            team.rounding,
            team.rounding_minutes,
        )

    @strawberry.field(description="`durationSeconds` rounded by the team's rounding rule.")
    async def rounded_seconds(self, info: Info) -> int:
        return await self._rounded(info)

    @strawberry.field(
        description="round_half_up(rateSnapshotCents * roundedSeconds / 3600), 0 if not billable."
    )
    async def amount_cents(self, info: Info) -> int:
        row = self.row
        return entry_amount_cents(
            row.frozen_amount_cents,
            row.rate_snapshot_cents,
            await self._rounded(info),
            billable=row.billable,
        )

    @strawberry.field
    def external_ref(self) -> ExternalRef | None:
        r = self.row
        if r.ext_provider is None or r.ext_type is None or r.ext_id is None:
            return None
        return ExternalRef(provider=r.ext_provider, external_type=r.ext_type, external_id=r.ext_id)

    @strawberry.field
    async def team(self, info: Info) -> TeamT:
        from gql.schema.types.team import Team

        row = await info.context.loaders.team.load(self.row.team_id)
        assert row is not None
        return Team.from_row(row)

    @strawberry.field
    async def user(self, info: Info) -> UserT:
        from gql.schema.types.user import User

        row = await info.context.loaders.user.load(self.row.user_id)
        assert row is not None
        return User.from_row(row)

    @strawberry.field
    async def task(self, info: Info) -> TaskT | None:
        from gql.schema.types.team import Task

        if self.row.task_id is None:
            return None
        row = await info.context.loaders.task.load(self.row.task_id)
        return Task.from_row(row) if row else None

    @strawberry.field(description="The task's category, or the entry's own for CATEGORY scope.")
    async def category(self, info: Info) -> CategoryT | None:
        from gql.schema.types.team import Category

        task_category_id = None
        if self.row.task_id is not None:
            task = await info.context.loaders.task.load(self.row.task_id)
            task_category_id = task.category_id if task else None
        category_id = effective_category_id(
            self.row.task_id, self.row.category_id, task_category_id
        )
        if category_id is None:
            return None
        row = await info.context.loaders.category.load(category_id)
        return Category.from_row(row) if row else None

    @strawberry.field
    async def comments(self, info: Info) -> list[Comment]:
        rows = await info.context.loaders.entry_comments.load(self.row.id)
        return [Comment.from_row(r) for r in rows]


@strawberry.type
class Comment:
    row: strawberry.Private[models.Comment]
    id: strawberry.ID
    content: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: models.Comment) -> Comment:
        return cls(
            row=row, id=strawberry.ID(row.id), content=row.content, created_at=row.created_at
        )

    @strawberry.field
    async def user(self, info: Info) -> UserT:
        from gql.schema.types.user import User

        row = await info.context.loaders.user.load(self.row.user_id)
        assert row is not None
        return User.from_row(row)

    @strawberry.field
    async def time_entry(self, info: Info) -> TimeEntry:
        row = await info.context.loaders.entry.load(self.row.time_entry_id)
        assert row is not None
        return TimeEntry.from_row(row)
