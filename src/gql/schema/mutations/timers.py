"""Timer mutations: start, continue and stop."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Info
from gql.schema.declare import DOMAIN_WORK
from gql.schema.mutations import inputs as i
from gql.schema.mutations import payloads as p
from gql.schema.mutations.entries import tag_ids
from gql.schema.mutations.runner import Outcome, run_mutation
from store import copies, timers
from store.errors import DomainWarning
from store.events import EventLog


def _task_ref(ref: i.TaskRefInput | None) -> timers.TaskRef | None:
    if ref is None:
        return None
    parent = ref.parent_category
    return timers.TaskRef(
        key=ref.key,
        title=ref.title,
        url=ref.url,
        category_id=str(ref.category_id) if ref.category_id is not None else None,
        parent_category=timers.ParentCategoryRef(parent.key, parent.title) if parent else None,
    )


def started_result(started: timers.Started, warnings: list[DomainWarning]) -> dict[str, Any]:
    """The stored result of a mutation answered by ``StartTimerPayload`` (replays answer
    it again, warnings included)."""
    return {
        "timeEntry": started.entry.id,
        "stoppedEntry": started.stopped.id if started.stopped else None,
        "isNewTask": started.is_new_task,
        "warnings": [w.as_json() for w in warnings],
    }


@strawberry.type
class TimerMutations:
    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Start a timer; the viewer's running one stops at that instant.",
    )
    async def start_timer(self, info: Info, input: i.StartTimerInput) -> p.StartTimerPayload:
        data = timers.StartTimer(
            team_id=str(input.team_id),
            entry_id=str(input.id) if input.id is not None else None,
            task_id=str(input.task_id) if input.task_id is not None else None,
            task=_task_ref(input.task),
            category_id=str(input.category_id) if input.category_id is not None else None,
            description=input.description,
            billable=input.billable,
            started_at=input.started_at,
            tag_ids=tag_ids(input.tag_ids),
        )
        actor = info.context.viewer_id

        async def work(session: AsyncSession, events: EventLog, digest: str) -> Outcome:
            warnings: list[DomainWarning] = []
            started = await timers.start_timer(
                session,
                actor_id=actor,
                data=data,
                digest=digest,
                events=events,
                warnings=warnings,
            )
            rows = [started.entry] + ([started.stopped] if started.stopped else [])
            return Outcome(started_result(started, warnings), rows, replayed=started.replayed)

        done = await run_mutation(info, name="startTimer", input=input, work=work)
        return await p.start_timer_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Start a timer like an entry of the viewer's team (its task or category, "
        "description, billable flag, live tags): startTimer's rules; the running timer stops.",
    )
    async def continue_time_entry(
        self, info: Info, input: i.ContinueTimeEntryInput
    ) -> p.StartTimerPayload:
        actor, entry_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, events: EventLog, digest: str) -> Outcome:
            warnings: list[DomainWarning] = []
            started = await copies.continue_entry(
                session,
                actor_id=actor,
                entry_id=entry_id,
                started_at=input.started_at,
                digest=digest,
                events=events,
                warnings=warnings,
            )
            rows = [started.entry] + ([started.stopped] if started.stopped else [])
            return Outcome(started_result(started, warnings), rows)

        done = await run_mutation(info, name="continueTimeEntry", input=input, work=work)
        return await p.start_timer_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Stop a timer (default: the viewer's running one)."
    )
    async def stop_timer(self, info: Info, input: i.StopTimerInput) -> p.TimeEntryPayload:
        actor = info.context.viewer_id
        entry_id = str(input.time_entry_id) if input.time_entry_id is not None else None

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            entry = await timers.stop_timer(
                session,
                actor_id=actor,
                entry_id=entry_id,
                stopped_at=input.stopped_at,
                events=events,
            )
            return Outcome({"timeEntry": entry.id}, [entry])

        done = await run_mutation(info, name="stopTimer", input=input, work=work)
        return await p.time_entry_payload(info, done)
