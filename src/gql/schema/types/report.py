"""timeReport: a team's entries summed per group (GroupBy), computed by the database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date
from enum import Enum

import strawberry

from gql.schema.context import Context, Info
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.filters import TimeEntryFilter, entity_id, store_filter
from gql.schema.scalars import BigInt
from gql.schema.types.enums import EntryStatus, InputType, ScopeType
from gql.schema.types.team import Category, Tag, Task, Team
from gql.schema.types.user import User
from store import reports
from store.reports import ReportError, ReportRow, ReportRows, ReportSums

DEFAULT_TIME_ZONE = "UTC"  # for a team the viewer cannot see: nothing of it is revealed
DEFAULT_WEEK_START = 1


@strawberry.enum(description="What a report's buckets are grouped by.")
class GroupBy(Enum):
    USER = "USER"
    TEAM = "TEAM"
    TASK = "TASK"
    CATEGORY = strawberry.enum_value(
        "CATEGORY", description="The task's category, or the entry's own for CATEGORY scope."
    )
    SCOPE = "SCOPE"
    DAY = strawberry.enum_value("DAY", description="The local date of `startedAt`.")
    WEEK = strawberry.enum_value("WEEK", description="The date the local week starts.")
    MONTH = strawberry.enum_value("MONTH", description="The first day of the local month.")
    BILLABLE = "BILLABLE"
    STATUS = "STATUS"
    INPUT_TYPE = "INPUT_TYPE"
    TAG = strawberry.enum_value(
        "TAG",
        description="Each of the entries' tags: an entry with two tags counts in both "
        "buckets, an untagged one in the bucket whose tag is null; `totals` count every "
        "entry once.",
    )


@strawberry.type(description="Sums over a set of entries.")
class ReportTotals:
    total_seconds: BigInt = strawberry.field(description="Seconds; running entries up to now.")
    rounded_seconds: BigInt = strawberry.field(description="Rounded per entry, then summed.")
    total_cents: BigInt = strawberry.field(description="The sum of the entries' `amountCents`.")
    entry_count: int
    running_count: int

    @classmethod
    def from_sums(cls, s: ReportSums) -> ReportTotals:
        return cls(
            total_seconds=BigInt(s.total_seconds),
            rounded_seconds=BigInt(s.rounded_seconds),
            total_cents=BigInt(s.total_cents),
            entry_count=s.entry_count,
            running_count=s.running_count,
        )


@dataclass
class Related:
    """The buckets' users, teams, tasks and categories, each object built once."""

    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)


async def load_related(ctx: Context, rows: ReportRows) -> Related:
    """Everything the buckets refer to, through the request's DataLoaders: one batch per
    relation, instead of one awaited resolver per bucket (thousands in a yearly report)."""
    loaders = ctx.loaders

    def ids(attr: str) -> list[str]:
        return sorted({v for b in rows.buckets if (v := getattr(b, attr)) is not None})

    users, teams, tasks, categories, tags = await asyncio.gather(
        loaders.user.load_many(ids("user_id")),
        loaders.team.load_many(ids("team_id")),
        loaders.task.load_many(ids("task_id")),
        loaders.category.load_many(ids("category_id")),
        loaders.tag.load_many(ids("tag_id")),
    )
    return Related(
        users={r.id: User.from_row(r) for r in users if r is not None},
        teams={r.id: Team.from_row(r) for r in teams if r is not None},
        tasks={r.id: Task.from_row(r) for r in tasks if r is not None},
        categories={r.id: Category.from_row(r) for r in categories if r is not None},
        tags={r.id: Tag.from_row(r) for r in tags if r is not None},
    )


@strawberry.type(description="One group: its keys (null when not grouped by them) and its sums.")
class ReportBucket:
    row: strawberry.Private[ReportRow]
    user: User | None
    team: Team | None
    task: Task | None = strawberry.field(
        description="Null when grouped by TASK too, for CATEGORY-scoped entries."
    )
    category: Category | None = strawberry.field(
        description="The entries' effective category (the task's, or their own)."
    )
    scope_type: ScopeType | None
    day: date | None
    week: date | None = strawberry.field(description="The date the week starts.")
    month: date | None = strawberry.field(description="The first day of the month.")
    billable: bool | None
    status: EntryStatus | None
    input_type: InputType | None
    tag: Tag | None = strawberry.field(
        description="Grouped by TAG: the bucket's tag (null: the untagged entries)."
    )
    total_seconds: BigInt
    rounded_seconds: BigInt
    total_cents: BigInt
    entry_count: int
    running_count: int

    @classmethod
    def from_row(cls, row: ReportRow, related: Related) -> ReportBucket:
        s = row.sums
        return cls(
            row=row,
            user=related.users.get(row.user_id) if row.user_id else None,
            team=related.teams.get(row.team_id) if row.team_id else None,
            task=related.tasks.get(row.task_id) if row.task_id else None,
            category=related.categories.get(row.category_id) if row.category_id else None,
            scope_type=ScopeType(row.scope_type) if row.scope_type else None,
            day=row.day,
            week=row.week,
            month=row.month,
            billable=row.billable,
            status=EntryStatus(row.status) if row.status else None,
            input_type=InputType(row.input_type) if row.input_type else None,
            tag=related.tags.get(row.tag_id) if row.tag_id else None,
            total_seconds=BigInt(s.total_seconds),
            rounded_seconds=BigInt(s.rounded_seconds),
            total_cents=BigInt(s.total_cents),
            entry_count=s.entry_count,
            running_count=s.running_count,
        )


@strawberry.type
class TimeReport:
    rows: strawberry.Private[ReportRows]
    group_by: list[GroupBy]
    time_zone: str = strawberry.field(description="The IANA zone of days, weeks and months.")
    week_start: int = strawberry.field(description="1 (Monday) to 7 (Sunday).")
    buckets: list[ReportBucket] = strawberry.field(description="Ordered by the group keys.")
    totals: ReportTotals

    @classmethod
    def build(
        cls, rows: ReportRows, related: Related, *, time_zone: str, week_start: int
    ) -> TimeReport:
        return cls(
            rows=rows,
            group_by=[GroupBy(k) for k in rows.group_by],
            time_zone=time_zone,
            week_start=week_start,
            buckets=[ReportBucket.from_row(r, related) for r in rows.buckets],
            totals=ReportTotals.from_sums(rows.totals),
        )


async def resolve_time_report(
    info: Info,
    *,
    filter: TimeEntryFilter,
    group_by: list[GroupBy],
    time_zone: str | None,
    week_start: int | None,
) -> TimeReport:
    """The report, or VALIDATION for bad keys, zone or week start; a team the viewer is
    not in gives an empty report, as if it had no entries."""
    return await time_report_of(
        info.context, filter=filter, group_by=group_by, time_zone=time_zone, week_start=week_start
    )


async def time_report_of(
    ctx: Context,
    *,
    filter: TimeEntryFilter,
    group_by: list[GroupBy],
    time_zone: str | None,
    week_start: int | None,
) -> TimeReport:
    """``timeReport``'s answer for ``ctx`` (its viewer, loaders and instant): the query's
    and each computation of the live report's (``timeReportUpdates``)."""
    report = await compute_report(
        ctx, filter=filter, group_by=group_by, time_zone=time_zone, week_start=week_start
    )
    return TimeReport.build(
        report.rows,
        await load_related(ctx, report.rows),
        time_zone=report.time_zone,
        week_start=report.week_start,
    )


@dataclass(frozen=True)
class ComputedReport:
    rows: ReportRows
    time_zone: str
    week_start: int


async def compute_report(
    ctx: Context,
    *,
    filter: TimeEntryFilter,
    group_by: list[GroupBy],
    time_zone: str | None,
    week_start: int | None,
) -> ComputedReport:
    """``timeReport``'s rows and the zone and week start they were taken in (the team's
    unless given): the report (:func:`time_report_of`) and the CSV export
    (``gql.export``) serve the same."""
    keys = [k.value for k in group_by]
    team_id = entity_id(filter.team_id)
    team = await ctx.loaders.team.load(team_id) if ctx.is_member(team_id) else None
    zone = time_zone if time_zone is not None else (team.time_zone if team else DEFAULT_TIME_ZONE)
    start = (
        week_start if week_start is not None else (team.week_start if team else DEFAULT_WEEK_START)
    )
    try:
        reports.check_request(keys, zone, start)
    except ReportError as exc:
        raise CodedError(TopLevelCode.VALIDATION, str(exc)) from exc
    ef = await store_filter(ctx, filter, team_ids=[team_id] if team else [])
    if ef is None:
        rows = ReportRows(group_by=tuple(keys), buckets=[], totals=ReportSums())
    else:
        async with ctx.db.read() as session:
            rows = await reports.time_report(
                session,
                filter=ef,
                group_by=keys,
                time_zone=zone,
                week_start=start,
                now=ctx.now,
                dialect=ctx.db.dialect,
            )
    return ComputedReport(rows, zone, start)
