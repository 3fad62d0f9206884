"""Mutation inputs. Every input takes an optional ``idempotencyKey`` (1 to 255 characters)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import strawberry

from gql.schema.types.enums import (
    EntryStatus,
    InputType,
    OverlapPolicy,
    Role,
    Rounding,
    Source,
    TaskState,
)

KEY_DOC = "Repeat-safe: the same key and input within 24 hours replays the first result."


@strawberry.input
class ExternalRefInput:
    provider: str
    external_type: str
    external_id: str


@strawberry.input(description="Log finished work. Give taskId or categoryId, and a length.")
class LogTimeEntryInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="Client-supplied ULID; repeating the same create is safe."
    )
    team_id: strawberry.ID
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Log for another member (admins only)."
    )
    task_id: strawberry.ID | None = None
    category_id: strawberry.ID | None = None
    started_at: datetime | None = None
    work_date: date | None = strawberry.field(
        default=None, description="Without startedAt: the entry starts 09:00 team time."
    )
    stopped_at: datetime | None = None
    duration_seconds: int | None = None
    duration: str | None = strawberry.field(
        default=None, description='"1h30m", "1h 30m", "90m", "1.5h", "45s", "1:30", "1:30:15".'
    )
    minutes: int | None = strawberry.field(default=None, description="1 to 1440.")
    hours: str | None = strawberry.field(default=None, description='Decimal string, e.g. "2.5".')
    description: str | None = None
    billable: bool | None = None
    input_type: InputType | None = None
    source: Source | None = None
    external_ref: ExternalRefInput | None = strawberry.field(
        default=None, description="Unique in the team: a repeat updates the stored entry."
    )
    tag_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Tags of the team for the new entry (live ones; at most 20, repeats "
        "count once).",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class ParentCategoryInput:
    key: str
    title: str | None = None


@strawberry.input(description="A task found by key, or created with these fields.")
class TaskRefInput:
    key: str
    title: str | None = None
    url: str | None = None
    category_id: strawberry.ID | None = None
    parent_category: ParentCategoryInput | None = None


@strawberry.input
class StartTimerInput:
    id: strawberry.ID | None = None
    team_id: strawberry.ID
    task_id: strawberry.ID | None = None
    task: TaskRefInput | None = None
    category_id: strawberry.ID | None = None
    description: str | None = None
    billable: bool | None = None
    started_at: datetime | None = None
    tag_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Tags of the team for the new entry (live ones; at most 20, repeats "
        "count once).",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(
    description="Start a timer like the entry `id` (its team, task or category, description, "
    "billable flag and live tags)."
)
class ContinueTimeEntryInput:
    id: strawberry.ID
    started_at: datetime | None = strawberry.field(
        default=None, description="Default now; the rules of startTimer.startedAt."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(
    description="Log a copy of the stopped entry `id`; give exactly one of startedAt or workDate."
)
class DuplicateTimeEntryInput:
    id: strawberry.ID
    started_at: datetime | None = None
    work_date: date | None = strawberry.field(
        default=None, description="Without startedAt: the copy starts 09:00 team time."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class StopTimerInput:
    time_entry_id: strawberry.ID | None = strawberry.field(
        default=None, description="Default: the viewer's running entry."
    )
    stopped_at: datetime | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class AddCommentInput:
    time_entry_id: strawberry.ID
    content: str = strawberry.field(description="1 to 10,000 characters.")
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Fields left out stay as they are.")
class UpdateTimeEntryInput:
    id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None,
        description="Refuse with VERSION_CONFLICT unless the entry is at this version.",
    )
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="Entries do not move between teams; if given, must match."
    )
    user_id: strawberry.ID | None = None
    task_id: strawberry.ID | None = None
    category_id: strawberry.ID | None = None
    started_at: datetime | None = None
    work_date: date | None = None
    stopped_at: datetime | None = None
    duration_seconds: int | None = None
    duration: str | None = None
    minutes: int | None = None
    hours: str | None = None
    description: str | None = strawberry.UNSET
    billable: bool | None = None
    input_type: InputType | None = None
    source: Source | None = None
    external_ref: ExternalRefInput | None = None
    tag_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET,
        description="The entry's tags from now on: null or left out, unchanged; [] none. "
        "Tags it has may stay even when archived; new ones must be live (TAG_ARCHIVED).",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class DeleteTimeEntryInput:
    id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class TransitionTimeEntriesInput:
    ids: list[strawberry.ID]
    to: EntryStatus
    reason: str | None = strawberry.field(
        default=None, description="Kept as a comment by the actor on each moved entry."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class LockTeamEntriesInput:
    team_id: strawberry.ID
    before: datetime
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class CreateTeamInput:
    name: str
    time_zone: str | None = None
    week_start: int | None = None
    rounding: Rounding | None = None
    rounding_minutes: int | None = None
    default_billable: bool | None = None
    default_rate_cents: int | None = None
    tasks_readonly: bool | None = None
    max_timer_hours: int | None = strawberry.field(
        default=None,
        description="How long a timer may run, 1 to 24 hours (default 24); the server stops "
        "a timer at exactly its start + this limit.",
    )
    overlap_policy: OverlapPolicy | None = strawberry.field(
        default=None,
        description="What a write meets that makes two entries of one user overlap: ALLOW "
        "(default), WARN or REFUSE.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class UpdateTeamInput:
    id: strawberry.ID
    name: str | None = None
    time_zone: str | None = None
    week_start: int | None = None
    rounding: Rounding | None = None
    rounding_minutes: int | None = None
    default_billable: bool | None = None
    default_rate_cents: int | None = None
    tasks_readonly: bool | None = None
    max_timer_hours: int | None = strawberry.field(
        default=None,
        description="How long a timer may run, 1 to 24 hours (default 24); the server stops "
        "a timer at exactly its start + this limit.",
    )
    overlap_policy: OverlapPolicy | None = strawberry.field(
        default=None,
        description="What a write meets that makes two entries of one user overlap: ALLOW "
        "(default), WARN or REFUSE.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class AddTeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID | None = None
    email: str | None = None
    role: Role = Role.MEMBER
    rate_cents: int | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class CreateCategoryInput:
    team_id: strawberry.ID
    title: str
    key: str | None = None
    parent_id: strawberry.ID | None = None
    color: int | None = None
    position: int | None = None
    archived: bool | None = None
    billable: bool | None = None
    rate_cents: int | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Fields left out stay as they are; null clears a nullable one.")
class UpdateCategoryInput:
    id: strawberry.ID
    title: str | None = None
    key: str | None = strawberry.UNSET
    parent_id: strawberry.ID | None = strawberry.UNSET
    color: int | None = strawberry.UNSET
    position: int | None = None
    archived: bool | None = None
    billable: bool | None = strawberry.UNSET
    rate_cents: int | None = strawberry.UNSET
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class CreateTaskInput:
    team_id: strawberry.ID
    key: str
    title: str
    url: str | None = None
    category_id: strawberry.ID | None = None
    state: TaskState | None = None
    description: str | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Fields left out stay as they are; null clears a nullable one.")
class UpdateTaskInput:
    id: strawberry.ID
    key: str | None = None
    title: str | None = None
    url: str | None = strawberry.UNSET
    category_id: strawberry.ID | None = strawberry.UNSET
    state: TaskState | None = None
    description: str | None = strawberry.UNSET
    archived: bool | None = strawberry.field(
        default=None,
        description="Archive (true) or restore (false) the task: admins and owners. An "
        "archived task takes no new time (TASK_ARCHIVED) and stays on its entries.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Remove a member from a team, or leave it (your own userId).")
class RemoveTeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Fields left out stay as they are; null clears a nullable one.")
class UpdateTeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID
    role: Role | None = strawberry.field(
        default=None, description="Only owners make or unmake owners."
    )
    rate_cents: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="The member's hourly rate for new entries; null: the category's or "
        "the team's rate applies.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class ArchiveTeamInput:
    id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class RestoreTeamInput:
    id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class RestoreTimeEntryInput:
    id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


def derived_input(source: type, name: str, *, drop: set[str], description: str) -> Any:
    """An input type with the fields of ``source`` but ``drop`` (by Python name), each
    declared as ``source`` declares it: a field added to ``source`` appears here too, so
    a bulk item never falls behind its single mutation's input. Strawberry has no way to
    derive a type without some of its fields (inheritance only adds fields)."""
    definition = source.__strawberry_definition__  # type: ignore[attr-defined]
    namespace: dict[str, Any] = {"__annotations__": {}, "__module__": source.__module__}
    for each in definition.fields:
        if each.python_name in drop:
            continue
        namespace["__annotations__"][each.python_name] = each.type_annotation.annotation
        default = {} if each.default is dataclasses.MISSING else {"default": each.default}
        namespace[each.python_name] = strawberry.field(
            name=each.graphql_name, description=each.description, **default
        )
    return strawberry.input(type(name, (), namespace), description=description)


if TYPE_CHECKING:  # the derived types have a subset of their sources' attributes
    LogTimeEntriesItemInput = LogTimeEntryInput
    TimeEntryChangesInput = UpdateTimeEntryInput
else:
    LogTimeEntriesItemInput = derived_input(
        LogTimeEntryInput,
        "LogTimeEntriesItemInput",
        drop={"idempotency_key"},
        description="One entry of logTimeEntries: every field of LogTimeEntryInput, with "
        "its rules, but the idempotency key (the call's key covers the batch; a client "
        "`id` stays permanent per entry).",
    )
    TimeEntryChangesInput = derived_input(
        UpdateTimeEntryInput,
        "TimeEntryChangesInput",
        drop={"id", "expected_version", "idempotency_key"},
        description="The changes updateTimeEntries applies to each of its entries: every "
        "field of UpdateTimeEntryInput, with its rules, but the entry's id, its version "
        "and the idempotency key. Fields left out stay as they are.",
    )


def _all_or_nothing(done: str) -> bool:
    """The ``allOrNothing`` field of a bulk input; ``done``: what happens to an entry."""
    field: bool = strawberry.field(
        default=True,
        description=f"true: any refused entry refuses the call, nothing is {done}. false: "
        f"the valid entries are {done}, the refused ones reported.",
    )
    return field


@strawberry.input(description="Log up to 500 entries at once (imports).")
class LogTimeEntriesInput:
    entries: list[LogTimeEntriesItemInput] = strawberry.field(
        description="1 to 500 entries, each with logTimeEntry's rules; no client `id` and "
        "no externalRef twice."
    )
    all_or_nothing: bool = _all_or_nothing("written")
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Apply the same changes to up to 500 entries.")
class UpdateTimeEntriesInput:
    ids: list[strawberry.ID] = strawberry.field(description="1 to 500 entries, each once.")
    changes: TimeEntryChangesInput
    all_or_nothing: bool = _all_or_nothing("changed")
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Soft delete up to 500 entries.")
class DeleteTimeEntriesInput:
    ids: list[strawberry.ID] = strawberry.field(description="1 to 500 entries, each once.")
    all_or_nothing: bool = _all_or_nothing("deleted")
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)
