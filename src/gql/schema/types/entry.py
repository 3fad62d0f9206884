"""TimeEntry, Comment and ExternalRef: each field declared once (``gql.schema.declare``)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gql.schema.context import Context
from gql.schema.declare import RowObject, column, computed, related
from gql.schema.types.enums import EntryStatus, InputType, ScopeType, Source
from gql.schema.types.history import EntryChange
from gql.schema.types.node import Node
from store.entry_rules import (
    effective_category_id,
    entry_amount_cents,
    entry_rounded_seconds,
    entry_seconds,
)

if TYPE_CHECKING:
    from gql.schema.types.team import Category, Tag, Task, Team
    from gql.schema.types.user import User

TeamT = Annotated["Team", strawberry.lazy("gql.schema.types.team")]
TaskT = Annotated["Task", strawberry.lazy("gql.schema.types.team")]
CategoryT = Annotated["Category", strawberry.lazy("gql.schema.types.team")]
TagT = Annotated["Tag", strawberry.lazy("gql.schema.types.team")]
UserT = Annotated["User", strawberry.lazy("gql.schema.types.user")]


@strawberry.type
class ExternalRef:
    provider: str
    external_type: str
    external_id: str


SECONDS = ("duration_seconds", "started_at")
ROUNDING = ("rounding", "rounding_minutes")
ROUNDED = ("frozen_rounded_seconds", *SECONDS)


def format_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}"


def _seconds(e: Any, ctx: Context) -> int:
    return entry_seconds(e.row.duration_seconds, e.row.started_at, ctx.now)


def _rounded(e: Any, ctx: Context, team: Any) -> int:
    assert team is not None
    return entry_rounded_seconds(
        e.row.frozen_rounded_seconds, _seconds(e, ctx), team.rounding, team.rounding_minutes
    )


def _amount(e: Any, ctx: Context, team: Any) -> int:
    row = e.row
    return entry_amount_cents(
        row.frozen_amount_cents,
        row.rate_snapshot_cents,
        _rounded(e, ctx, team),
        billable=row.billable,
    )


def _external_ref(e: Any, _ctx: Context) -> ExternalRef | None:
    r = e.row
    if r.ext_provider is None or r.ext_type is None or r.ext_id is None:
        return None
    return ExternalRef(provider=r.ext_provider, external_type=r.ext_type, external_id=r.ext_id)


@functools.cache
def _type(module: str, name: str) -> Any:
    """A type of a module that imports this one (resolved once, when first built)."""
    return getattr(importlib.import_module(f"gql.schema.types.{module}"), name)


def _team(_o: Any, _ctx: Context, row: Any) -> Any:
    return None if row is None else _type("team", "Team")(row=row)


def _user(_o: Any, _ctx: Context, row: Any) -> Any:
    return None if row is None else _type("user", "User")(row=row)


def _task(_o: Any, _ctx: Context, row: Any) -> Any:
    return None if row is None else _type("team", "Task")(row=row)


def _category(_o: Any, _ctx: Context, row: Any) -> Any:
    return None if row is None else _type("team", "Category")(row=row)


async def _category_ids(entries: Sequence[Any], ctx: Context) -> list[str | None]:
    """Each entry's category: its task's, or its own (CATEGORY scope)."""
    task_ids = list(dict.fromkeys(e.row.task_id for e in entries if e.row.task_id is not None))
    tasks = dict(zip(task_ids, await ctx.loaders.task.load_many(task_ids), strict=True))
    out: list[str | None] = []
    for e in entries:
        task = tasks.get(e.row.task_id) if e.row.task_id is not None else None
        task_category = task.category_id if task is not None else None
        out.append(effective_category_id(e.row.task_id, e.row.category_id, task_category))
    return out


def _tags(_o: Any, _ctx: Context, rows: Any) -> list[Any]:
    tag = _type("team", "Tag")
    return [tag(row=r) for r in rows]


def _comments(_o: Any, _ctx: Context, rows: Any) -> list[Comment]:
    return [Comment(row=r) for r in rows]


async def _history_keys(entries: Sequence[Any], ctx: Context) -> list[str | None]:
    """The entry's id where the viewer may read its history (the entry's own user, and the
    admins and owners of its team); None, so the field is null, for anyone else."""
    if ctx.viewer is None:
        return [None for _ in entries]
    viewer = ctx.viewer_id
    return [
        e.row.id if e.row.user_id == viewer or ctx.is_admin(e.row.team_id) else None
        for e in entries
    ]


def _history(_o: Any, _ctx: Context, rows: Any) -> list[EntryChange] | None:
    return None if rows is None else [EntryChange(row=r) for r in rows]


def _entry(_o: Any, _ctx: Context, row: Any) -> TimeEntry | None:
    return None if row is None else TimeEntry(row=row)


@strawberry.type
class TimeEntry(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    scope_type: ScopeType = column("scope_type")
    started_at: datetime = column("started_at")
    stopped_at: datetime | None = column("stopped_at")
    work_date: date = column("work_date")
    description: str | None = column("description")
    billable: bool = column("billable")
    rate_snapshot_cents: int = column("rate_snapshot_cents")
    status: EntryStatus = column("status")
    input_type: InputType = column("input_type")
    source: Source = column("source")
    locked_at: datetime | None = column("locked_at")
    deleted_at: datetime | None = column("deleted_at")
    created_at: datetime = column("created_at")
    updated_at: datetime = column("updated_at")
    version: int = column("version")
    auto_stopped: bool = column(
        "auto_stopped",
        description="Whether the server stopped this timer at its team's limit "
        "(Team.maxTimerHours).",
    )
    running: bool = computed(lambda e, _ctx: e.row.stopped_at is None, reads=("stopped_at",))
    duration_seconds: int = computed(
        _seconds, reads=SECONDS, description="Seconds worked; for a running entry, up to now."
    )
    formatted_duration: str = computed(
        lambda e, ctx: format_duration(_seconds(e, ctx)),
        reads=SECONDS,
        description="`durationSeconds` as H:MM.",
    )
    rounded_seconds: int = related(
        "team",
        _rounded,
        key="team_id",
        reads=ROUNDED,
        target_reads=ROUNDING,
        description="`durationSeconds` rounded by the team's rounding rule.",
    )
    amount_cents: int = related(
        "team",
        _amount,
        key="team_id",
        reads=(*ROUNDED, "frozen_amount_cents", "rate_snapshot_cents", "billable"),
        target_reads=ROUNDING,
        description="round_half_up(rateSnapshotCents * roundedSeconds / 3600), 0 if not billable.",
    )
    external_ref: ExternalRef | None = computed(
        _external_ref, reads=("ext_provider", "ext_type", "ext_id")
    )
    team: TeamT = related("team", _team, key="team_id")
    user: UserT = related("user", _user, key="user_id")
    task: TaskT | None = related("task", _task, key="task_id")
    category: CategoryT | None = related(
        "category",
        _category,
        keys=_category_ids,
        reads=("task_id", "category_id"),
        description="The task's category, or the entry's own for CATEGORY scope.",
    )
    comments: list[Comment] = related("entry_comments", _comments, key="id")
    history: list[EntryChange] | None = related(
        "entry_history",
        _history,
        keys=_history_keys,
        reads=("id", "user_id", "team_id"),
        description="Every committed change of the entry, oldest first: creation, edits, "
        "stops, status transitions, deletion and restore, each with its instant, its actor "
        "and the fields it changed. Visible to the entry's own user and to the admins and "
        "owners of its team; null for anyone else. A list, not a connection: an entry "
        "changes a few times in its life (a change is a person's write or the server's one "
        "stop), and its history goes with it.",
    )
    tags: list[TagT] = related(
        "entry_tags",
        _tags,
        key="id",
        description="The entry's tags (archived ones too), by name in any case.",
    )


@strawberry.type
class Comment(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    content: str = column("content")
    created_at: datetime = column("created_at")
    user: UserT = related("user", _user, key="user_id")
    time_entry: TimeEntry = related("entry", _entry, key="time_entry_id")
