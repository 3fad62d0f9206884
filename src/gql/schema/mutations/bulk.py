"""Bulk mutations on time entries: ``logTimeEntries`` (imports), ``updateTimeEntries``,
``deleteTimeEntries``.

Each item is converted exactly as its single mutation converts its input
(``log_entry_data``, ``entry_changes``) and applied by ``store.timesheet.bulk`` with the
single command; the batch runs as one mutation (``run_mutation``: one transaction, one
idempotency key, retries, one event per changed entry after the commit).

The refusals of a call that was not all-or-nothing are part of its result: they are
stored with the idempotency record, so a replay answers them too.
"""

from __future__ import annotations

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Info
from gql.schema.declare import batch
from gql.schema.errors import PayloadWarning, UserError, payload_warnings, user_errors
from gql.schema.mutations import inputs as i
from gql.schema.mutations.entries import entry_changes, log_entry_data
from gql.schema.mutations.runner import Done, Outcome, plain, run_mutation
from gql.schema.types.entry import TimeEntry
from store import idempotency
from store.errors import DomainError, ErrorCode
from store.events import EventLog
from store.timesheet import bulk
from store.timeutil import utcnow

SINGLE_LOG = "logTimeEntry"


@strawberry.type
class TimeEntriesPayload:
    time_entries: list[TimeEntry] = strawberry.field(
        description="The entries, in input order, as they are now; of a call that was not "
        "all-or-nothing, only those written (or left as they were)."
    )
    replayed: bool
    warnings: list[PayloadWarning] = strawberry.field(
        description="What the written items should know (the team's overlap policy, WARN), "
        'each on its item\'s index as `userErrors` are (["input", "entries", "3", '
        '"startedAt"], ["input", "ids", "3"]).'
    )
    user_errors: list[UserError] = strawberry.field(
        description='Every refused item, its index in `field` (["input", "entries", "3", '
        '"startedAt"], ["input", "ids", "3"]).'
    )


def _outcome(done: bulk.BulkOutcome) -> Outcome:
    errors = [{"code": e.code.value, "field": e.field, "message": e.message} for e in done.errors]
    result = {
        "timeEntries": [e.id for e in done.entries],
        "userErrors": errors,
        "warnings": [w.as_json() for w in done.warnings],
    }
    return Outcome(result, done.entries, replayed=done.replayed)


async def _payload(info: Info, done: Done) -> TimeEntriesPayload:
    result = done.outcome.result if done.outcome else {}
    rows = await info.context.loaders.entry.load_many(result.get("timeEntries", []))
    stored = [
        DomainError(ErrorCode(e["code"]), e["message"], e["field"])
        for e in result.get("userErrors", [])
    ]
    return TimeEntriesPayload(
        time_entries=[TimeEntry.from_row(r) for r in rows if r is not None],
        replayed=done.replayed,
        warnings=payload_warnings(result.get("warnings")),
        user_errors=user_errors([*done.errors, *stored]),
    )


def _ids(ids: list[strawberry.ID]) -> list[str]:
    return [str(x) for x in ids]


@strawberry.type
class BulkMutations:
    @strawberry.mutation(
        metadata=batch("entries"),
        description="Log 1 to 500 entries at once (imports), each with logTimeEntry's rules; "
        "all-or-nothing unless `allOrNothing: false`.",
    )
    async def log_time_entries(
        self, info: Info, input: i.LogTimeEntriesInput
    ) -> TimeEntriesPayload:
        # Each item's request hash is the one a logTimeEntry of it alone has: a client id
        # is the same create here and there.
        items = [
            (log_entry_data(e), idempotency.request_hash(SINGLE_LOG, plain(e)))
            for e in input.entries
        ]
        actor = info.context.viewer_id

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            done = await bulk.log_entries(
                session,
                actor_id=actor,
                items=items,
                all_or_nothing=input.all_or_nothing,
                now=utcnow(),
                events=events,
            )
            return _outcome(done)

        done = await run_mutation(info, name="logTimeEntries", input=input, work=work)
        return await _payload(info, done)

    @strawberry.mutation(
        metadata=batch("ids"),
        description="Apply the same changes to 1 to 500 entries, each with updateTimeEntry's "
        "rules; `version` grows by one on each entry that changed.",
    )
    async def update_time_entries(
        self, info: Info, input: i.UpdateTimeEntriesInput
    ) -> TimeEntriesPayload:
        changes = entry_changes(input.changes, expected_version=None)
        actor, ids = info.context.viewer_id, _ids(input.ids)

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            done = await bulk.update_entries(
                session,
                actor_id=actor,
                entry_ids=ids,
                changes=changes,
                all_or_nothing=input.all_or_nothing,
                now=utcnow(),
                events=events,
            )
            return _outcome(done)

        done = await run_mutation(info, name="updateTimeEntries", input=input, work=work)
        return await _payload(info, done)

    @strawberry.mutation(
        metadata=batch("ids"),
        description="Soft delete 1 to 500 entries, each with deleteTimeEntry's rules.",
    )
    async def delete_time_entries(
        self, info: Info, input: i.DeleteTimeEntriesInput
    ) -> TimeEntriesPayload:
        actor, ids = info.context.viewer_id, _ids(input.ids)

        async def work(session: AsyncSession, events: EventLog, _digest: str) -> Outcome:
            done = await bulk.delete_entries(
                session,
                actor_id=actor,
                entry_ids=ids,
                all_or_nothing=input.all_or_nothing,
                now=utcnow(),
                events=events,
            )
            return _outcome(done)

        done = await run_mutation(info, name="deleteTimeEntries", input=input, work=work)
        return await _payload(info, done)
