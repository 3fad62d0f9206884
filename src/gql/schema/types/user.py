"""User: a person; what of them a viewer may see depends on the teams they share."""

from __future__ import annotations

import strawberry

from gql.schema.context import Info
from gql.schema.types.entry import RelatedTimeEntryFilter, TimeEntry, entry_connection, store_filter
from gql.schema.types.pagination import Connection
from gql.schema.types.team import Team
from store import models


@strawberry.type
class User:
    row: strawberry.Private[models.User]
    id: strawberry.ID
    nickname: str
    time_zone: str
    locale: str

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            nickname=row.nickname,
            time_zone=row.time_zone,
            locale=row.locale,
        )

    async def _shared_team_ids(self, info: Info) -> list[str]:
        ctx = info.context
        if self.row.id == ctx.viewer_id:
            return list(ctx.memberships)
        theirs = await ctx.loaders.user_memberships.load(self.row.id)
        return [m.team_id for m in theirs if m.team_id in ctx.memberships]

    @strawberry.field(description="Visible to the user and to admins of a team they share.")
    async def email(self, info: Info) -> str | None:
        ctx = info.context
        if self.row.id == ctx.viewer_id:
            return self.row.email
        shared = await self._shared_team_ids(info)
        return self.row.email if any(ctx.is_admin(t) for t in shared) else None

    @strawberry.field(description="The teams of this user that the viewer is in too.")
    async def teams(self, info: Info) -> list[Team]:
        ids = await self._shared_team_ids(info)
        rows = await info.context.loaders.team.load_many(ids)
        teams = [Team.from_row(r) for r in rows if r is not None]
        return sorted(teams, key=lambda t: (t.name, t.id))

    @strawberry.field
    async def running_entry(self, info: Info) -> TimeEntry | None:
        row = await info.context.loaders.user_running.load(self.row.id)
        if row is None or not info.context.is_member(row.team_id):
            return None
        return TimeEntry.from_row(row)

    @strawberry.field
    async def time_entries(
        self,
        info: Info,
        filter: RelatedTimeEntryFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[TimeEntry]:
        ids = await self._shared_team_ids(info)
        ef = await store_filter(info.context, filter, team_ids=ids, user_ids=[self.row.id])
        return await entry_connection(info.context, ef, first, after)
