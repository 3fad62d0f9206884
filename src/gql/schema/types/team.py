"""Team, its members, categories and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gql.schema.context import Context, Info
from gql.schema.types.entry import RelatedTimeEntryFilter, TimeEntry, entry_connection, store_filter
from gql.schema.types.enums import Role, Rounding, TaskState
from gql.schema.types.pagination import (
    Connection,
    check_first,
    decode_id_cursor,
    event_cursor,
    id_cursor,
)
from store import directory, models, outbox, webhooks

if TYPE_CHECKING:
    from gql.schema.types.user import User
    from gql.schema.types.webhook import Webhook

UserT = Annotated["User", strawberry.lazy("gql.schema.types.user")]
WebhookT = Annotated["Webhook", strawberry.lazy("gql.schema.types.webhook")]


async def task_connection(
    ctx: Context,
    *,
    team_id: str,
    category_ids: list[str] | None,
    first: int | None,
    after: str | None,
) -> Connection[Task]:
    size = check_first(first)
    after_id = decode_id_cursor("t", after) if after is not None else None
    async with ctx.db.read() as session:
        rows, has_next = await directory.list_tasks(
            session, team_id=team_id, category_ids=category_ids, first=size, after_id=after_id
        )
    for row in rows:
        ctx.loaders.task.prime(row.id, row)

    async def count() -> int:
        async with ctx.db.read() as session:
            return await directory.count_tasks(session, team_id=team_id, category_ids=category_ids)

    return Connection.build(
        [Task.from_row(r) for r in rows],
        [id_cursor("t", r.id) for r in rows],
        has_next=has_next,
        has_previous=after is not None,
        count=count,
    )


@strawberry.type
class Member:
    row: strawberry.Private[models.Membership]
    role: Role

    @strawberry.field
    async def user(self, info: Info) -> UserT:
        from gql.schema.types.user import User

        row = await info.context.loaders.user.load(self.row.user_id)
        assert row is not None
        return User.from_row(row)

    @strawberry.field(description="The member's hourly rate; visible to admins and the member.")
    def rate_cents(self, info: Info) -> int | None:
        ctx = info.context
        if ctx.viewer_id == self.row.user_id or ctx.is_admin(self.row.team_id):
            return self.row.rate_cents
        return None


@strawberry.type
class Team:
    row: strawberry.Private[models.Team]
    id: strawberry.ID
    name: str
    time_zone: str
    week_start: int = strawberry.field(description="1 (Monday) to 7 (Sunday).")
    rounding: Rounding
    rounding_minutes: int
    default_billable: bool
    default_rate_cents: int
    tasks_readonly: bool
    locked_before: datetime | None

    @classmethod
    def from_row(cls, row: models.Team) -> Team:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            name=row.name,
            time_zone=row.time_zone,
            week_start=row.week_start,
            rounding=Rounding(row.rounding),
            rounding_minutes=row.rounding_minutes,
            default_billable=row.default_billable,
            default_rate_cents=row.default_rate_cents,
            tasks_readonly=row.tasks_readonly,
            locked_before=row.locked_before,
        )

    @strawberry.field
    async def members(self, info: Info) -> list[Member]:
        rows = await info.context.loaders.team_members.load(self.row.id)
        return [Member(row=r, role=Role(r.role)) for r in rows]

    @strawberry.field(description="Every category of the team, ordered by position and title.")
    async def categories(self, info: Info) -> list[Category]:
        rows = await info.context.loaders.team_categories.load(self.row.id)
        return [Category.from_row(r) for r in rows]

    @strawberry.field
    async def tasks(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> Connection[Task]:
        return await task_connection(
            info.context, team_id=self.row.id, category_ids=None, first=first, after=after
        )

    @strawberry.field(
        description="The cursor of the team's latest committed change: read the team's "
        "current state, then follow `teamChanges` or `timerEvents` from here."
    )
    async def event_cursor(self, info: Info) -> str:
        async with info.context.db.read() as session:
            last = await outbox.last_position(session, self.row.id)
        return event_cursor(last)

    @strawberry.field(description="The team's webhooks: for admins and owners (else empty).")
    async def webhooks(self, info: Info) -> list[WebhookT]:
        from gql.schema.types.webhook import Webhook

        if not info.context.is_admin(self.row.id):
            return []
        async with info.context.db.read() as session:
            rows = await webhooks.of_team(session, team_id=self.row.id)
        return [Webhook.from_row(r) for r in rows]

    @strawberry.field
    async def running_entries(self, info: Info) -> list[TimeEntry]:
        rows = await info.context.loaders.team_running.load(self.row.id)
        return [TimeEntry.from_row(r) for r in rows]

    @strawberry.field
    async def time_entries(
        self,
        info: Info,
        filter: RelatedTimeEntryFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[TimeEntry]:
        ef = await store_filter(info.context, filter, team_ids=[self.row.id])
        return await entry_connection(info.context, ef, first, after)


@strawberry.type
class Category:
    row: strawberry.Private[models.Category]
    id: strawberry.ID
    key: str | None
    title: str
    color: int | None
    position: int
    archived: bool
    billable: bool | None
    rate_cents: int | None

    @classmethod
    def from_row(cls, row: models.Category) -> Category:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            key=row.key,
            title=row.title,
            color=row.color,
            position=row.position,
            archived=row.archived,
            billable=row.billable,
            rate_cents=row.rate_cents,
        )

    @strawberry.field
    async def team(self, info: Info) -> Team:
        row = await info.context.loaders.team.load(self.row.team_id)
        assert row is not None
        return Team.from_row(row)

    @strawberry.field
    async def parent(self, info: Info) -> Category | None:
        if self.row.parent_id is None:
            return None
        row = await info.context.loaders.category.load(self.row.parent_id)
        return Category.from_row(row) if row else None

    @strawberry.field
    async def children(self, info: Info) -> list[Category]:
        rows = await info.context.loaders.team_categories.load(self.row.team_id)
        return [Category.from_row(r) for r in rows if r.parent_id == self.row.id]

    @strawberry.field(description="From the root down to the parent.")
    async def ancestors(self, info: Info) -> list[Category]:
        rows = await info.context.loaders.team_categories.load(self.row.team_id)
        by_id = {r.id: r for r in rows}
        chain: list[Category] = []
        current = by_id.get(self.row.parent_id) if self.row.parent_id else None
        while current is not None and len(chain) < len(rows):
            chain.append(Category.from_row(current))
            current = by_id.get(current.parent_id) if current.parent_id else None
        return list(reversed(chain))

    @strawberry.field(description="Tasks of this category and its descendants.")
    async def tasks(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> Connection[Task]:
        rows = await info.context.loaders.team_categories.load(self.row.team_id)
        ids = directory.descendant_ids(rows, self.row.id)
        return await task_connection(
            info.context, team_id=self.row.team_id, category_ids=ids, first=first, after=after
        )


@strawberry.type
class Task:
    row: strawberry.Private[models.Task]
    id: strawberry.ID
    key: str
    title: str
    url: str | None
    state: TaskState
    description: str | None

    @classmethod
    def from_row(cls, row: models.Task) -> Task:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            key=row.key,
            title=row.title,
            url=row.url,
            state=TaskState(row.state),
            description=row.description,
        )

    @strawberry.field
    async def team(self, info: Info) -> Team:
        row = await info.context.loaders.team.load(self.row.team_id)
        assert row is not None
        return Team.from_row(row)

    @strawberry.field
    async def category(self, info: Info) -> Category | None:
        if self.row.category_id is None:
            return None
        row = await info.context.loaders.category.load(self.row.category_id)
        return Category.from_row(row) if row else None

    @strawberry.field
    async def time_entries(
        self,
        info: Info,
        filter: RelatedTimeEntryFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[TimeEntry]:
        ef = await store_filter(
            info.context, filter, team_ids=[self.row.team_id], task_id=self.row.id
        )
        return await entry_connection(info.context, ef, first, after)
