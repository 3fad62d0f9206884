"""The entry filters of the API and their translation into the store's ``EntryFilter``."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.schema.context import Context
from gql.schema.types.enums import EntryStatus, InputType, ScopeType
from store import directory
from store.entries import EntryFilter


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
