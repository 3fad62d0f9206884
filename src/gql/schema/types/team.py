"""Team, its members, categories and tasks: each field declared once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gql.schema.connections import entry_connection, task_connection
from gql.schema.context import Context, Info
from gql.schema.declare import RowObject, column, computed, related, resolved
from gql.schema.filters import RelatedTimeEntryFilter, store_filter
from gql.schema.types.entry import TimeEntry, _category, _team, _user
from gql.schema.types.enums import OverlapPolicy, Role, Rounding, TaskState
from gql.schema.types.node import Node
from gql.schema.types.pagination import Connection, event_cursor
from store import directory, outbox, webhooks

if TYPE_CHECKING:
    from gql.schema.types.user import User
    from gql.schema.types.webhook import Webhook

UserT = Annotated["User", strawberry.lazy("gql.schema.types.user")]
WebhookT = Annotated["Webhook", strawberry.lazy("gql.schema.types.webhook")]

PAGE_ARGUMENTS = "a page per parent, with its own `first` and cursor"
INCLUDE_ARCHIVED = "Archived tasks too (the default); false: only active ones."


def _archived(o: Any, _ctx: Context) -> bool:
    return o.row.archived_at is not None


def _rate_cents(m: Any, ctx: Context) -> int | None:
    """A member's rate: visible to admins of the team and to the member."""
    if ctx.viewer_id == m.row.user_id or ctx.is_admin(m.row.team_id):
        return m.row.rate_cents  # type: ignore[no-any-return]
    return None


@strawberry.type
class Member(RowObject):
    row: strawberry.Private[Any]
    role: Role = column("role")
    user: UserT = related("user", _user, key="user_id")
    rate_cents: int | None = computed(
        _rate_cents,
        reads=("user_id", "team_id", "rate_cents"),
        description="The member's hourly rate; visible to admins and the member.",
    )


def _members(_t: Any, _ctx: Context, rows: Any) -> list[Member]:
    return [Member(row=r) for r in rows]


def _categories(_t: Any, _ctx: Context, rows: Any) -> list[Category]:
    return [Category(row=r) for r in rows]


def _entries(_t: Any, _ctx: Context, rows: Any) -> list[TimeEntry]:
    return [TimeEntry(row=r) for r in rows]


@strawberry.type
class Team(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    name: str = column("name")
    time_zone: str = column("time_zone")
    week_start: int = column("week_start", description="1 (Monday) to 7 (Sunday).")
    rounding: Rounding = column("rounding")
    rounding_minutes: int = column("rounding_minutes")
    default_billable: bool = column("default_billable")
    default_rate_cents: int = column("default_rate_cents")
    tasks_readonly: bool = column("tasks_readonly")
    max_timer_hours: int = column(
        "max_timer_hours",
        description="How long a timer of the team may run, 1 to 24 hours (default 24): the "
        "server stops a timer still running at exactly startedAt + this limit "
        "(autoStopped), and startTimer refuses a startedAt further back.",
    )
    overlap_policy: OverlapPolicy = column(
        "overlap_policy",
        description="What a write meets that makes two live entries of one user in the team "
        "overlap (half-open [startedAt, stoppedAt); a running timer up to startedAt + "
        "maxTimerHours): ALLOW (default), WARN (the payload's `warnings`) or REFUSE (OVERLAP).",
    )
    locked_before: datetime | None = column("locked_before")
    archived_at: datetime | None = column(
        "archived_at",
        description="When an owner archived the team (null: active). An archived team is "
        "read-only (TEAM_ARCHIVED) until `restoreTeam`.",
    )
    archived: bool = computed(_archived, reads=("archived_at",))
    members: list[Member] = related("team_members", _members, key="id")
    categories: list[Category] = related(
        "team_categories",
        _categories,
        key="id",
        description="Every category of the team, ordered by position and title.",
    )

    @strawberry.field(metadata=resolved(PAGE_ARGUMENTS))
    async def tasks(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        include_archived: Annotated[bool, strawberry.argument(description=INCLUDE_ARCHIVED)] = True,
    ) -> Connection[Task]:
        return await task_connection(
            info.context,
            team_id=self.row.id,
            category_ids=None,
            first=first,
            after=after,
            last=last,
            before=before,
            include_archived=include_archived,
        )

    @strawberry.field(
        description="The cursor of the team's latest committed change: read the team's "
        "current state, then follow `teamChanges` or `timerEvents` from here.",
        metadata=resolved("one read of the team's event counter"),
    )
    async def event_cursor(self, info: Info) -> str:
        async with info.context.db.read() as session:
            last = await outbox.last_position(session, self.row.id)
        return event_cursor(last)

    @strawberry.field(
        description="The team's webhooks: for admins and owners (else empty).",
        metadata=resolved("admins only; read per team"),
    )
    async def webhooks(self, info: Info) -> list[WebhookT]:
        from gql.schema.types.webhook import Webhook

        if not info.context.is_admin(self.row.id):
            return []
        async with info.context.db.read() as session:
            rows = await webhooks.of_team(session, team_id=self.row.id)
        return [Webhook.from_row(r) for r in rows]

    running_entries: list[TimeEntry] = related("team_running", _entries, key="id")

    @strawberry.field(
        description="The team's tags, by name in any case: the live ones, or with "
        "`includeArchived` the archived ones too.",
        metadata=resolved(
            "an argument; read through the team's tags loader (one statement per level of teams)"
        ),
    )
    async def tags(
        self,
        info: Info,
        include_archived: Annotated[
            bool, strawberry.argument(description="Archived tags too.")
        ] = False,
    ) -> list[Tag]:
        rows = await info.context.loaders.team_tags.load(self.row.id)
        return [Tag(row=r) for r in rows if include_archived or r.archived_at is None]

    @strawberry.field(metadata=resolved(PAGE_ARGUMENTS))
    async def time_entries(
        self,
        info: Info,
        filter: RelatedTimeEntryFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TimeEntry]:
        ef = await store_filter(info.context, filter, team_ids=[self.row.id])
        return await entry_connection(info.context, ef, first, after, last, before)


def _children(c: Any, _ctx: Context, rows: Any) -> list[Category]:
    return [Category(row=r) for r in rows if r.parent_id == c.row.id]


def _ancestors(c: Any, _ctx: Context, rows: Any) -> list[Category]:
    """From the root down to the parent."""
    by_id = {r.id: r for r in rows}
    chain: list[Category] = []
    current = by_id.get(c.row.parent_id) if c.row.parent_id else None
    while current is not None and len(chain) < len(rows):
        chain.append(Category(row=current))
        current = by_id.get(current.parent_id) if current.parent_id else None
    return list(reversed(chain))


@strawberry.type
class Category(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    key: str | None = column("key")
    title: str = column("title")
    color: int | None = column("color")
    position: int = column("position")
    archived: bool = column("archived")
    billable: bool | None = column("billable")
    rate_cents: int | None = column("rate_cents")
    team: Team = related("team", _team, key="team_id")
    parent: Category | None = related("category", _category, key="parent_id")
    children: list[Category] = related("team_categories", _children, key="team_id")
    ancestors: list[Category] = related(
        "team_categories",
        _ancestors,
        key="team_id",
        description="From the root down to the parent.",
    )

    @strawberry.field(
        description="Tasks of this category and its descendants.",
        metadata=resolved(PAGE_ARGUMENTS),
    )
    async def tasks(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        include_archived: Annotated[bool, strawberry.argument(description=INCLUDE_ARCHIVED)] = True,
    ) -> Connection[Task]:
        rows = await info.context.loaders.team_categories.load(self.row.team_id)
        ids = directory.descendant_ids(rows, self.row.id)
        return await task_connection(
            info.context,
            team_id=self.row.team_id,
            category_ids=ids,
            first=first,
            after=after,
            last=last,
            before=before,
            include_archived=include_archived,
        )


@strawberry.type(
    description="A label of the team's entries (createTag). Admins manage tags; members put "
    "live ones on entries (`tagIds`). An archived tag stays on its entries and takes no new "
    "ones (TAG_ARCHIVED)."
)
class Tag(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    name: str = column(
        "name", description="1 to 100 characters, unique in any case among live tags."
    )
    color: int | None = column("color", description="An RGB colour, 0xRRGGBB, or null.")
    archived_at: datetime | None = column(
        "archived_at", description="When the tag was archived (null: live)."
    )
    archived: bool = computed(_archived, reads=("archived_at",))
    created_at: datetime = column("created_at")
    updated_at: datetime = column("updated_at")
    team: Team = related("team", _team, key="team_id")


async def _pin_keys(tasks: Sequence[Any], ctx: Context) -> list[str | None]:
    """The ``pinned`` loader's keys: the viewer and the task (none without a viewer)."""
    if ctx.viewer is None:
        return [None for _ in tasks]
    viewer = ctx.viewer_id
    return [f"{viewer} {t.row.id}" for t in tasks]


def _pinned(_t: Any, _ctx: Context, pinned: bool | None) -> bool:
    return bool(pinned)


@strawberry.type
class Task(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    key: str = column("key")
    title: str = column("title")
    url: str | None = column("url")
    state: TaskState = column("state")
    description: str | None = column("description")
    archived_at: datetime | None = column(
        "archived_at",
        description="When the task was archived (null: active). An archived task takes no "
        "new time (TASK_ARCHIVED) and stays on its entries and in reports.",
    )
    archived: bool = computed(_archived, reads=("archived_at",))
    team: Team = related("team", _team, key="team_id")
    category: Category | None = related("category", _category, key="category_id")
    pinned: bool = related(
        "pinned",
        _pinned,
        keys=_pin_keys,
        reads=("id",),
        description="Whether the viewer pinned this task (pinTask): their favourite.",
    )

    @strawberry.field(metadata=resolved(PAGE_ARGUMENTS))
    async def time_entries(
        self,
        info: Info,
        filter: RelatedTimeEntryFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TimeEntry]:
        ef = await store_filter(
            info.context, filter, team_ids=[self.row.team_id], task_id=self.row.id
        )
        return await entry_connection(info.context, ef, first, after, last, before)
