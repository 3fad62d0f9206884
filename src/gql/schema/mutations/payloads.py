"""Mutation payloads: the changed objects, ``replayed`` and ``userErrors``."""

from __future__ import annotations

import strawberry

from gql.schema.context import Info
from gql.schema.errors import PayloadWarning, UserError, payload_warnings, user_errors
from gql.schema.mutations.runner import Done
from gql.schema.types.entry import Comment, TimeEntry
from gql.schema.types.team import Category, Member, Task, Team


@strawberry.type
class TimeEntryPayload:
    time_entry: TimeEntry | None
    replayed: bool
    user_errors: list[UserError]
    warnings: list[PayloadWarning] = strawberry.field(
        default_factory=list,
        description="What the write should tell, though it succeeded: e.g. OVERLAP for each "
        "entry of the same user it overlaps, in a team whose overlapPolicy is WARN.",
    )


@strawberry.type
class StartTimerPayload:
    time_entry: TimeEntry | None
    stopped_entry: TimeEntry | None = strawberry.field(
        description="The viewer's timer that this start stopped, at the same instant."
    )
    is_new_task: bool
    replayed: bool
    user_errors: list[UserError]
    warnings: list[PayloadWarning] = strawberry.field(
        default_factory=list,
        description="What the write should tell, though it succeeded: e.g. OVERLAP for each "
        "entry of the same user it overlaps, in a team whose overlapPolicy is WARN.",
    )


@strawberry.type
class CommentPayload:
    comment: Comment | None
    time_entry: TimeEntry | None
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class TransitionTimeEntriesPayload:
    time_entries: list[TimeEntry]
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class TeamPayload:
    team: Team | None
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class TeamMemberPayload:
    member: Member | None
    team: Team | None
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class RemoveTeamMemberPayload:
    team: Team | None = strawberry.field(
        description="The team as it is now; null when you left it."
    )
    removed_user_id: strawberry.ID | None
    stopped_entry: TimeEntry | None = strawberry.field(
        description="The removed member's timer in the team, stopped at the removal "
        "instant; null when none ran or when you left the team."
    )
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class ArchiveTeamPayload:
    team: Team | None
    stopped_entries: list[TimeEntry] = strawberry.field(
        description="The timers that ran in the team, stopped at the archiving instant."
    )
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class CategoryPayload:
    category: Category | None
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class TaskPayload:
    task: Task | None
    replayed: bool
    user_errors: list[UserError]


async def entry_of(info: Info, entry_id: str | None) -> TimeEntry | None:
    if entry_id is None:
        return None
    row = await info.context.loaders.entry.load(entry_id)
    return TimeEntry.from_row(row) if row else None


async def team_of(info: Info, team_id: str | None) -> Team | None:
    if team_id is None:
        return None
    row = await info.context.loaders.team.load(team_id)
    return Team.from_row(row) if row else None


async def time_entry_payload(info: Info, done: Done) -> TimeEntryPayload:
    result = done.outcome.result if done.outcome else {}
    return TimeEntryPayload(
        time_entry=await entry_of(info, result.get("timeEntry")),
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
        warnings=payload_warnings(result.get("warnings")),
    )


async def start_timer_payload(info: Info, done: Done) -> StartTimerPayload:
    result = done.outcome.result if done.outcome else {}
    return StartTimerPayload(
        time_entry=await entry_of(info, result.get("timeEntry")),
        stopped_entry=await entry_of(info, result.get("stoppedEntry")),
        is_new_task=bool(result.get("isNewTask")),
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
        warnings=payload_warnings(result.get("warnings")),
    )


async def comment_payload(info: Info, done: Done) -> CommentPayload:
    result = done.outcome.result if done.outcome else {}
    comment_id = result.get("comment")
    row = await info.context.loaders.comment.load(comment_id) if comment_id else None
    return CommentPayload(
        comment=Comment.from_row(row) if row else None,
        time_entry=await entry_of(info, result.get("timeEntry")),
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
    )


async def transition_payload(info: Info, done: Done) -> TransitionTimeEntriesPayload:
    result = done.outcome.result if done.outcome else {}
    rows = await info.context.loaders.entry.load_many(result.get("timeEntries", []))
    return TransitionTimeEntriesPayload(
        time_entries=[TimeEntry.from_row(r) for r in rows if r is not None],
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
    )


async def team_payload(info: Info, done: Done) -> TeamPayload:
    result = done.outcome.result if done.outcome else {}
    return TeamPayload(
        team=await team_of(info, result.get("team")),
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
    )


async def team_member_payload(info: Info, done: Done) -> TeamMemberPayload:
    result = done.outcome.result if done.outcome else {}
    team = await team_of(info, result.get("team"))
    member = None
    if team is not None:
        members = await info.context.loaders.team_members.load(team.row.id)
        found = [m for m in members if m.user_id == result.get("user")]
        member = Member(row=found[0]) if found else None
    return TeamMemberPayload(
        member=member, team=team, replayed=done.replayed, user_errors=user_errors(done.errors)
    )


async def category_payload(info: Info, done: Done) -> CategoryPayload:
    result = done.outcome.result if done.outcome else {}
    category_id = result.get("category")
    row = await info.context.loaders.category.load(category_id) if category_id else None
    return CategoryPayload(
        category=Category.from_row(row) if row else None,
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
    )


async def task_payload(info: Info, done: Done) -> TaskPayload:
    result = done.outcome.result if done.outcome else {}
    task_id = result.get("task")
    row = await info.context.loaders.task.load(task_id) if task_id else None
    return TaskPayload(
        task=Task.from_row(row) if row else None,
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
    )


async def remove_member_payload(info: Info, done: Done) -> RemoveTeamMemberPayload:
    """After a removal, as after any change: read as the viewer may now (a member who left
    gets neither the team nor its entry)."""
    result = done.outcome.result if done.outcome else {}
    team_id = result.get("team")
    team = await team_of(info, team_id) if info.context.is_member(team_id or "") else None
    stopped = await entry_of(info, result.get("stoppedEntry")) if team is not None else None
    user = result.get("user")
    return RemoveTeamMemberPayload(
        team=team,
        removed_user_id=strawberry.ID(user) if user else None,
        stopped_entry=stopped,
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
    )


async def archive_team_payload(info: Info, done: Done) -> ArchiveTeamPayload:
    result = done.outcome.result if done.outcome else {}
    rows = await info.context.loaders.entry.load_many(result.get("stoppedEntries", []))
    return ArchiveTeamPayload(
        team=await team_of(info, result.get("team")),
        stopped_entries=[TimeEntry.from_row(r) for r in rows if r is not None],
        replayed=done.replayed,
        user_errors=user_errors(done.errors),
    )
