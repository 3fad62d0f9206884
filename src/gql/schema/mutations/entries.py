"""Mutations on time entries: log, duplicate, update, delete, comment, transition, lock."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Info
from gql.schema.declare import DOMAIN_WORK
from gql.schema.mutations import inputs as i
from gql.schema.mutations import payloads as p
from gql.schema.mutations.runner import Outcome, run_mutation
from store import copies, timesheet
from store.errors import DomainWarning
from store.events import EventLog
from store.models import InputType, Source
from store.timeutil import utcnow


def _opt(value: Any) -> str | None:
    return None if value is None or value is strawberry.UNSET else str(value)


def _how_long(data: i.LogTimeEntryInput | i.UpdateTimeEntryInput) -> timesheet.HowLong:
    return timesheet.HowLong(
        duration_seconds=data.duration_seconds,
        minutes=data.minutes,
        hours=data.hours,
        duration=data.duration,
        stopped_at=data.stopped_at,
    )


def tag_ids(value: list[strawberry.ID] | None) -> tuple[str, ...] | None:
    """``tagIds`` as the store takes them: left out or null is None."""
    if value is None or value is strawberry.UNSET:
        return None
    return tuple(str(v) for v in value)


def _ext(ref: i.ExternalRefInput | None) -> timesheet.ExternalRefInput | None:
    if ref is None:
        return None
    return timesheet.ExternalRefInput(ref.provider, ref.external_type, ref.external_id)


def entry_result(entry_id: str, warnings: list[DomainWarning]) -> dict[str, Any]:
    """The stored result of a mutation answered by ``TimeEntryPayload``: the entry and the
    warnings of the write, so a replay of its idempotency key answers the same."""
    return {"timeEntry": entry_id, "warnings": [w.as_json() for w in warnings]}


def log_entry_data(input: i.LogTimeEntryInput) -> timesheet.LogEntry:
    """What ``logTimeEntry`` asks the store for (the compiled write path asks the same)."""
    return timesheet.LogEntry(
        team_id=str(input.team_id),
        scope=timesheet.Scope(_opt(input.task_id), _opt(input.category_id)),
        how_long=_how_long(input),
        entry_id=_opt(input.id),
        user_id=_opt(input.user_id),
        started_at=input.started_at,
        work_date=input.work_date,
        description=input.description,
        billable=input.billable,
        input_type=input.input_type.value if input.input_type else InputType.MANUAL.value,
        source=input.source.value if input.source else Source.API.value,
        external_ref=_ext(input.external_ref),
        tag_ids=tag_ids(input.tag_ids),
    )


def entry_changes(
    input: i.UpdateTimeEntryInput, *, expected_version: int | None
) -> timesheet.EntryChanges:
    """What ``updateTimeEntry`` asks the store to change (``updateTimeEntries`` asks the
    same of each entry: its ``changes`` are the same fields)."""
    return timesheet.EntryChanges(
        expected_version=expected_version,
        scope=timesheet.Scope(_opt(input.task_id), _opt(input.category_id)),
        user_id=_opt(input.user_id),
        started_at=input.started_at,
        work_date=input.work_date,
        how_long=_how_long(input),
        description=timesheet.UNSET if input.description is strawberry.UNSET else input.description,
        billable=input.billable,
        input_type=input.input_type.value if input.input_type else None,
        source=input.source.value if input.source else None,
        external_ref=_ext(input.external_ref),
        team_id=_opt(input.team_id),
        tag_ids=tag_ids(input.tag_ids),
    )


@strawberry.type
class EntryMutations:
    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Log finished work (or upsert it by externalRef)."
    )
    async def log_time_entry(self, info: Info, input: i.LogTimeEntryInput) -> p.TimeEntryPayload:
        data = log_entry_data(input)
        actor = info.context.viewer_id

        async def work(session: AsyncSession, events: EventLog, digest: str) -> Outcome:
            warnings: list[DomainWarning] = []
            entry, replayed = await timesheet.log_entry(
                session,
                actor_id=actor,
                data=data,
                now=utcnow(),
                digest=digest,
                events=events,
                warnings=warnings,
            )
            return Outcome(entry_result(entry.id, warnings), [entry], replayed=replayed)

        done = await run_mutation(info, name="logTimeEntry", input=input, work=work)
        return await p.time_entry_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Log a copy of a stopped entry of the viewer's team for the viewer (its "
        "task or category, description, billable flag, duration, live tags): logTimeEntry's "
        "rules.",
    )
    async def duplicate_time_entry(
        self, info: Info, input: i.DuplicateTimeEntryInput
    ) -> p.TimeEntryPayload:
        actor, entry_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, events: EventLog, digest: str) -> Outcome:
            warnings: list[DomainWarning] = []
            entry = await copies.duplicate_entry(
                session,
                actor_id=actor,
                entry_id=entry_id,
                started_at=input.started_at,
                work_date=input.work_date,
                now=utcnow(),
                digest=digest,
                events=events,
                warnings=warnings,
            )
            return Outcome(entry_result(entry.id, warnings), [entry])

        done = await run_mutation(info, name="duplicateTimeEntry", input=input, work=work)
        return await p.time_entry_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Change an entry; `version` grows by one."
    )
    async def update_time_entry(
        self, info: Info, input: i.UpdateTimeEntryInput
    ) -> p.TimeEntryPayload:
        changes = entry_changes(input, expected_version=input.expected_version)
        actor, entry_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            warnings: list[DomainWarning] = []
            entry = await timesheet.update_entry(
                session,
                actor_id=actor,
                entry_id=entry_id,
                changes=changes,
                now=utcnow(),
                events=events,
                warnings=warnings,
            )
            return Outcome(entry_result(entry.id, warnings), [entry])

        done = await run_mutation(info, name="updateTimeEntry", input=input, work=work)
        return await p.time_entry_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Soft delete: `deletedAt` is set; it stays in the sync feed.",
    )
    async def delete_time_entry(
        self, info: Info, input: i.DeleteTimeEntryInput
    ) -> p.TimeEntryPayload:
        actor, entry_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            entry = await timesheet.delete_entry(
                session, actor_id=actor, entry_id=entry_id, now=utcnow(), events=events
            )
            return Outcome({"timeEntry": entry.id}, [entry])

        done = await run_mutation(info, name="deleteTimeEntry", input=input, work=work)
        return await p.time_entry_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Bring a soft-deleted entry back (`version` + 1, an UPDATED event), with "
        "the rights of deleting it; NOT_DELETED when it is not deleted.",
    )
    async def restore_time_entry(
        self, info: Info, input: i.RestoreTimeEntryInput
    ) -> p.TimeEntryPayload:
        actor, entry_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            warnings: list[DomainWarning] = []
            entry = await timesheet.restore_entry(
                session,
                actor_id=actor,
                entry_id=entry_id,
                now=utcnow(),
                events=events,
                warnings=warnings,
            )
            return Outcome(entry_result(entry.id, warnings), [entry])

        done = await run_mutation(info, name="restoreTimeEntry", input=input, work=work)
        return await p.time_entry_payload(info, done)

    @strawberry.mutation(metadata=DOMAIN_WORK)
    async def add_comment(self, info: Info, input: i.AddCommentInput) -> p.CommentPayload:
        actor, entry_id = info.context.viewer_id, str(input.time_entry_id)

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            comment, entry = await timesheet.add_comment(
                session,
                actor_id=actor,
                entry_id=entry_id,
                content=input.content,
                now=utcnow(),
                events=events,
            )
            return Outcome({"comment": comment.id, "timeEntry": entry.id}, [comment, entry])

        done = await run_mutation(info, name="addComment", input=input, work=work)
        return await p.comment_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Move entries through approval; all or nothing."
    )
    async def transition_time_entries(
        self, info: Info, input: i.TransitionTimeEntriesInput
    ) -> p.TransitionTimeEntriesPayload:
        actor = info.context.viewer_id
        ids = [str(x) for x in input.ids]

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            moved = await timesheet.transition_entries(
                session,
                actor_id=actor,
                entry_ids=ids,
                to=input.to.value,
                reason=input.reason,
                now=utcnow(),
                events=events,
            )
            return Outcome({"timeEntries": [e.id for e in moved]}, moved)

        done = await run_mutation(info, name="transitionTimeEntries", input=input, work=work)
        return await p.transition_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Lock the team's entries that start before `before`."
    )
    async def lock_team_entries(self, info: Info, input: i.LockTeamEntriesInput) -> p.TeamPayload:
        actor, team_id = info.context.viewer_id, str(input.team_id)

        async def work(session: AsyncSession, _events: EventLog, _digest: str) -> Outcome:
            team = await timesheet.lock_team_entries(
                session, actor_id=actor, team_id=team_id, before=input.before, now=utcnow()
            )
            return Outcome({"team": team.id}, [team])

        done = await run_mutation(info, name="lockTeamEntries", input=input, work=work)
        return await p.team_payload(info, done)
