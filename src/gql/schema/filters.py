"""The entry filters of the API and their translation into the store's ``EntryFilter``.

Every field narrows the set further (AND): ``userId`` and ``userIds`` together are the
users in both. An id of another team's user, task or category matches nothing, as if it
did not exist; an id that is no ULID is no id of anything and matches nothing too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from gql.schema.context import Context
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.types.enums import EntryStatus, InputType, ScopeType, TagMatch
from store import directory
from store.entries import EntryFilter
from store.ids import parse_ulid

# At most this many ids in each of ``userIds``, ``taskIds`` and ``categoryIds``: a filter
# is a selection a person makes, and each id is a bound parameter of every statement.
MAX_FILTER_IDS = 100


@strawberry.input(description="Narrows time entries; `from` is inclusive, `to` exclusive.")
class RelatedTimeEntryFilter:
    user_id: strawberry.ID | None = None
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=f"Any of these users (at most {MAX_FILTER_IDS})."
    )
    task_id: strawberry.ID | None = None
    task_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=f"Any of these tasks (at most {MAX_FILTER_IDS})."
    )
    category_id: strawberry.ID | None = strawberry.field(
        default=None, description="The category, its descendants and their tasks."
    )
    category_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=f"Any of these categories (at most {MAX_FILTER_IDS}), each with its "
        "descendants and their tasks.",
    )
    description_contains: str | None = strawberry.field(
        default=None,
        description="Entries whose description contains this text, in any case (Unicode: "
        '"ärger" finds "ÄRGER"); every character is literal, `%` and `_` too. Empty: no '
        "condition.",
    )
    tag_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=f"Entries with any (`tagMatch: ANY`) or every (`ALL`) one of these tags "
        f"(at most {MAX_FILTER_IDS}; archived tags too). An empty list matches nothing.",
    )
    tag_match: TagMatch = strawberry.field(
        default=TagMatch.ANY, description="How `tagIds` match: ANY (default) or ALL."
    )
    untagged: bool | None = strawberry.field(
        default=None,
        description="true: only entries without any tag; false: only entries with one.",
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


def entity_id(value: strawberry.ID) -> str:
    """An id as stored: a ULID in either case upper-cased; anything else as it is (it
    matches nothing)."""
    return parse_ulid(str(value)) or str(value)


def _ids(values: Sequence[strawberry.ID] | None, name: str) -> list[str] | None:
    if values is None:
        return None
    if len(values) > MAX_FILTER_IDS:
        raise CodedError(
            TopLevelCode.VALIDATION,
            f"`{name}` takes at most {MAX_FILTER_IDS} ids (got {len(values)}).",
        )
    return list(dict.fromkeys(entity_id(v) for v in values))


def _both(scope: list[str] | None, wanted: list[str] | None) -> list[str] | None:
    """The ids in both (None: no condition), in the order of ``scope``."""
    if wanted is None:
        return scope
    if scope is None:
        return wanted
    keep = set(wanted)
    return [i for i in scope if i in keep]


async def _category_subtrees(ctx: Context, ids: list[str], team_ids: list[str]) -> list[str]:
    """The categories ``ids`` of the teams ``team_ids`` and all their descendants."""
    found: dict[str, None] = {}
    for category in await ctx.loaders.category.load_many(ids):
        if category is None or category.team_id not in team_ids:
            continue
        team_categories = await ctx.loaders.team_categories.load(category.team_id)
        found.update(dict.fromkeys(directory.descendant_ids(team_categories, category.id)))
    return list(found)


async def store_filter(
    ctx: Context,
    f: RelatedTimeEntryFilter | None,
    *,
    team_ids: list[str],
    user_ids: list[str] | None = None,
    task_id: str | None = None,
) -> EntryFilter | None:
    """The store filter for ``f`` within ``team_ids`` (already tenancy-checked).

    None means nothing can match (e.g. a category of another team). VALIDATION when a
    list holds more than ``MAX_FILTER_IDS`` ids.
    """
    f = f or RelatedTimeEntryFilter()
    wanted_users = _ids(f.user_ids, "userIds")
    wanted_tasks = _ids(f.task_ids, "taskIds")
    wanted_categories = _ids(f.category_ids, "categoryIds")
    wanted_tags = _ids(f.tag_ids, "tagIds")
    if not team_ids:
        return None
    if f.user_id is not None:
        user_ids = _both(user_ids, [entity_id(f.user_id)])
    user_ids = _both(user_ids, wanted_users)
    if f.task_id is not None:
        if task_id is not None and task_id != entity_id(f.task_id):
            return None
        task_id = entity_id(f.task_id)
    if task_id is not None and wanted_tasks is not None:
        if task_id not in wanted_tasks:
            return None
        wanted_tasks = None  # the one task is in the list: the list adds nothing
    category_ids: list[str] | None = None
    if f.category_id is not None:
        category_ids = await _category_subtrees(ctx, [entity_id(f.category_id)], team_ids)
        if not category_ids:
            return None
    if wanted_categories is not None:
        category_ids = _both(
            category_ids, await _category_subtrees(ctx, wanted_categories, team_ids)
        )
    if any(
        ids is not None and not ids for ids in (user_ids, wanted_tasks, category_ids, wanted_tags)
    ):
        return None  # an empty set of users, tasks, categories or tags: nothing matches
    return EntryFilter(
        team_ids=team_ids,
        user_ids=user_ids,
        task_id=task_id,
        task_ids=wanted_tasks,
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
        description_contains=f.description_contains or None,
        tag_ids=wanted_tags,
        tag_match=f.tag_match,
        untagged=f.untagged,
    )
