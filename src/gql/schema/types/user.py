"""User: a person; what of them a viewer may see depends on the teams they share."""

from __future__ import annotations

from typing import Any

import strawberry

from gql.schema.connections import entry_connection
from gql.schema.context import Context, Info
from gql.schema.declare import RowObject, column, related, resolved
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.filters import RelatedTimeEntryFilter, store_filter
from gql.schema.types.entry import TimeEntry
from gql.schema.types.node import Node
from gql.schema.types.pagination import Connection
from gql.schema.types.team import PAGE_ARGUMENTS, Task, Team
from gql.schema.types.token import AccessToken
from store import pins, tokens


async def shared_team_ids(ctx: Context, user_id: str) -> list[str]:
    """The teams of the user that the viewer is in too."""
    if user_id == ctx.viewer_id:
        return list(ctx.memberships)
    theirs = await ctx.loaders.user_memberships.load(user_id)
    return [m.team_id for m in theirs if m.team_id in ctx.memberships]


def _running(_u: Any, ctx: Context, row: Any) -> TimeEntry | None:
    if row is None or not ctx.is_member(row.team_id):
        return None
    return TimeEntry(row=row)


@strawberry.type
class User(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    nickname: str = column("nickname")
    time_zone: str = column("time_zone")
    locale: str = column("locale")

    @strawberry.field(
        description="Visible to the user and to admins of a team they share.",
        metadata=resolved("who may see it depends on the teams the viewer shares with them"),
    )
    async def email(self, info: Info) -> str | None:
        ctx = info.context
        if self.row.id == ctx.viewer_id:
            return self.row.email  # type: ignore[no-any-return]
        shared = await shared_team_ids(ctx, self.row.id)
        return self.row.email if any(ctx.is_admin(t) for t in shared) else None

    @strawberry.field(
        description="The teams of this user that the viewer is in too.",
        metadata=resolved("the teams the viewer shares with them, by name"),
    )
    async def teams(self, info: Info) -> list[Team]:
        ids = await shared_team_ids(info.context, self.row.id)
        rows = await info.context.loaders.team.load_many(ids)
        teams = [Team(row=r) for r in rows if r is not None]
        return sorted(teams, key=lambda t: (t.row.name, t.row.id))

    running_entry: TimeEntry | None = related("user_running", _running, key="id")

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
        ids = await shared_team_ids(info.context, self.row.id)
        ef = await store_filter(info.context, filter, team_ids=ids, user_ids=[self.row.id])
        return await entry_connection(info.context, ef, first, after, last, before)

    @strawberry.field(
        description="The viewer's own access tokens, newest first (revoked and expired "
        "ones too); an empty list on any other user.",
        metadata=resolved("the viewer's own tokens only: an empty list on anyone else"),
    )
    async def access_tokens(self, info: Info) -> list[AccessToken]:
        ctx = info.context
        if ctx.viewer is None or self.row.id != ctx.viewer_id:
            return []
        async with ctx.db.read() as session:
            rows = await tokens.tokens_of(session, user_id=self.row.id)
        return [AccessToken(row=r) for r in rows]

    @strawberry.field(
        description="The tasks of the viewer's own entries in the team (deleted ones left "
        "out), most recently used first: by the latest start of their entries on each, ties "
        f"by task id (newest first); `first` 1 to {pins.MAX_RECENT} (null: 10). An empty list "
        "on any other user, and for a team the viewer is not a member of.",
        metadata=resolved("the viewer's own entries only, with arguments: one statement"),
    )
    async def recent_tasks(
        self, info: Info, team_id: strawberry.ID, first: int | None = 10
    ) -> list[Task]:
        first = pins.DEFAULT_RECENT if first is None else first
        if not 1 <= first <= pins.MAX_RECENT:
            code = TopLevelCode.VALIDATION if first < 1 else TopLevelCode.QUERY_TOO_COMPLEX
            raise CodedError(code, f"`first` must be 1 to {pins.MAX_RECENT} (got {first}).")
        ctx = info.context
        team = str(team_id).upper()
        if ctx.viewer is None or self.row.id != ctx.viewer_id or not ctx.is_member(team):
            return []
        async with ctx.db.read_statement() as session:
            rows = await pins.recent_tasks(session, user_id=self.row.id, team_id=team, first=first)
        return [Task(row=r) for r in rows]

    @strawberry.field(
        description="The viewer's pinned tasks of the team (pinTask), most recently pinned "
        "first; archived and CLOSED ones too. An empty list on any other user, and for a "
        "team the viewer is not a member of.",
        metadata=resolved("the viewer's own pins only, with an argument"),
    )
    async def pinned_tasks(self, info: Info, team_id: strawberry.ID) -> list[Task]:
        ctx = info.context
        team = str(team_id).upper()
        if ctx.viewer is None or self.row.id != ctx.viewer_id or not ctx.is_member(team):
            return []
        async with ctx.db.read_statement() as session:
            rows = await pins.pinned_tasks(session, user_id=self.row.id, team_id=team)
        return [Task(row=r) for r in rows]
