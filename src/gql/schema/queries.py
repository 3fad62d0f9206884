"""The Query root: everything is scoped to the viewer's teams."""

from __future__ import annotations

import strawberry

from gql.schema.changes import TeamChanges, team_changes
from gql.schema.connections import entry_connection
from gql.schema.context import Info
from gql.schema.declare import ROOT
from gql.schema.filters import TimeEntryFilter, entity_id, store_filter
from gql.schema.nodes import check_ids, find_nodes
from gql.schema.types.entry import TimeEntry
from gql.schema.types.node import Node
from gql.schema.types.pagination import Connection
from gql.schema.types.report import GroupBy, TimeReport, resolve_time_report
from gql.schema.types.team import Category, Task, Team
from gql.schema.types.user import User
from store.ids import parse_ulid


@strawberry.type
class Query:
    @strawberry.field(metadata=ROOT, description="The user the token belongs to.")
    def viewer(self, info: Info) -> User:
        viewer = info.context.viewer
        assert viewer is not None
        return User(row=viewer)

    @strawberry.field(metadata=ROOT, description="The viewer's teams, by name.")
    async def teams(self, info: Info) -> list[Team]:
        rows = await info.context.loaders.team.load_many(list(info.context.memberships))
        return sorted((Team(row=r) for r in rows if r), key=lambda t: (t.row.name, t.row.id))

    @strawberry.field(metadata=ROOT)
    async def team(self, info: Info, id: strawberry.ID) -> Team | None:
        key = _key(id)  # a ULID in either case, as for every other lookup
        if not info.context.is_member(key):
            return None
        row = await info.context.loaders.team.load(key)
        return Team.from_row(row) if row else None

    @strawberry.field(metadata=ROOT)
    async def task(self, info: Info, id: strawberry.ID) -> Task | None:
        row = await info.context.loaders.task.load(_key(id))
        return Task.from_row(row) if row and info.context.is_member(row.team_id) else None

    @strawberry.field(metadata=ROOT)
    async def category(self, info: Info, id: strawberry.ID) -> Category | None:
        row = await info.context.loaders.category.load(_key(id))
        return Category.from_row(row) if row and info.context.is_member(row.team_id) else None

    @strawberry.field(metadata=ROOT)
    async def time_entry(self, info: Info, id: strawberry.ID) -> TimeEntry | None:
        row = await info.context.loaders.entry.load(_key(id))
        return TimeEntry.from_row(row) if row and info.context.is_member(row.team_id) else None

    @strawberry.field(
        metadata=ROOT,
        description="Any entity by its id (Relay's refetch): null when there is none, when "
        "the id is malformed, and when it belongs to a team the viewer is not in.",
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return (await find_nodes(info.context, [str(id)]))[0]

    @strawberry.field(
        metadata=ROOT,
        description="The entity of each id, in order (at most 100 ids), each as `node` finds it.",
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        check_ids(ids)
        return await find_nodes(info.context, [str(i) for i in ids])

    @strawberry.field(
        metadata=ROOT,
        description="The team's committed changes (entries created, changed and deleted; "
        "tasks, categories, members) in commit order, after `after` (an event's `cursor`; "
        "without it, from the oldest kept change). A partner that polls with the last "
        "`endCursor` it got misses none, whatever the number of concurrent writers.",
    )
    async def team_changes(
        self, info: Info, team_id: strawberry.ID, after: str | None = None, first: int = 100
    ) -> TeamChanges:
        return await team_changes(info, _key(team_id), after, first)

    @strawberry.field(
        metadata=ROOT, description="A page of a team's entries, newest `startedAt` first."
    )
    async def time_entries(
        self,
        info: Info,
        filter: TimeEntryFilter,
        first: int | None = 50,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TimeEntry]:
        team_id = entity_id(filter.team_id)
        ids = [team_id] if info.context.is_member(team_id) else []
        ef = await store_filter(info.context, filter, team_ids=ids)
        return await entry_connection(info.context, ef, first, after, last, before)

    @strawberry.field(
        metadata=ROOT,
        description="A team's entries summed per group of 1 to 3 keys; days, weeks and months "
        "in `timeZone` (default: the team's), weeks starting on `weekStart` (1=Monday..7=Sunday, "
        "default: the team's).",
    )
    async def time_report(
        self,
        info: Info,
        filter: TimeEntryFilter,
        group_by: list[GroupBy],
        time_zone: str | None = None,
        week_start: int | None = None,
    ) -> TimeReport:
        return await resolve_time_report(
            info, filter=filter, group_by=group_by, time_zone=time_zone, week_start=week_start
        )


def _key(id: strawberry.ID) -> str:
    """A ULID in either case, as ids are stored (upper-case)."""
    return parse_ulid(str(id)) or str(id)
