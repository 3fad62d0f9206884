"""The compiled write: ``logTimeEntry`` in one statement (PostgreSQL) instead of some ten.

The input is converted exactly as for the resolver (``Runner.kwargs``), turned into the
same ``LogEntry`` and the same request hash, and logged by ``store.entry_writes``, which
runs the ORM path's own checks and column values. Its payload is the mutation's payload
type, built from the new entry and the rows it refers to (primed into the request's
loaders) and answered by the same plan as any other payload.

A repeat of a request under its idempotency key is found by the same read and answered
from the stored result (``replayed: true``), loading the entry as standard execution's
replay does. Whatever else ``store.entry_writes`` does not take (another member, a client
id, an external ref, any refused check, a key used with another request) raises before
anything is written and standard execution answers from the start. After a write was
sent, a failure whose outcome is unknown (the PostgreSQL connection lost mid-statement)
falls back only when an idempotency key makes the retry safe; without one it is answered
as UNAVAILABLE, as a lost database is anywhere else, rather than risk logging the entry
twice.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from gql.compiler.plan import (
    ATTR,
    COLUMN,
    COMPUTED,
    RELATED,
    TYPENAME,
    Completion,
    ListOf,
    NotCompiled,
    Obj,
    Step,
)
from gql.compiler.run import Runner
from gql.schema.context import Info
from gql.schema.mutations.entries import log_entry_data
from gql.schema.mutations.payloads import TimeEntryPayload, time_entry_payload
from gql.schema.mutations.runner import Done, Outcome, plain
from gql.schema.types.entry import TimeEntry
from store import entry_writes, idempotency
from store.timeutil import utcnow


class Unavailable(Exception):
    """The write was sent and its outcome is unknown: answer UNAVAILABLE, do not retry."""


def _row(values: dict[str, Any] | None) -> Any:
    return None if values is None else SimpleNamespace(**values)


class LogWriter:
    MUTATION = "logTimeEntry"

    def __init__(self) -> None:
        self.logged = 0  # entries logged by the one-statement write
        self.replayed = 0  # repeated keys answered from the facts read

    async def run(self, runner: Runner, step: Step) -> dict[str, Any]:
        """The data of the answer; ``NotCompiled`` before anything was written."""
        ctx = runner.ctx
        token = ctx.token
        if token is None:
            raise NotCompiled("no token")
        if not _viewer_free(step.completion):
            raise NotCompiled("a payload that depends on the viewer: the runner's, with one")
        given = runner.kwargs(step)["input"]
        if given.external_ref is not None:
            raise NotCompiled("an external ref: the upsert is standard execution's")
        key = given.idempotency_key
        if key is not None and not 1 <= len(key) <= idempotency.MAX_KEY_LENGTH:
            raise NotCompiled("standard execution refuses the key")
        try:
            logged, event = await entry_writes.log_entry(
                ctx.db,
                token=token,
                data=log_entry_data(given),
                mutation=self.MUTATION,
                key=key,
                digest=idempotency.request_hash(self.MUTATION, plain(given)),
                now=utcnow(),
            )
        except entry_writes.Replay as repeated:
            # The stored result, made the payload as standard execution's replay makes it
            # (``info`` is the compiled path's: the context, all that resolvers read).
            done = Done(Outcome(repeated.result, replayed=True))
            payload = await time_entry_payload(cast(Info, runner.info), done)
            assert step.completion is not None
            (answer,) = await runner.complete([payload], step.completion)
            self.replayed += 1
            return {step.key: answer}
        except entry_writes.NotHandled as exc:
            raise NotCompiled("not the compiled write's") from exc
        except entry_writes.Uncertain as exc:
            if key is not None:
                raise NotCompiled("uncertain; the key makes a retry safe") from exc
            raise Unavailable from exc
        await ctx.services.events.publish([event])
        loaders = ctx.loaders
        entry = _row(logged.entry)
        loaders.entry.prime(entry.id, entry)
        loaders.user.prime(logged.user["id"], _row(logged.user))
        loaders.team.prime(logged.team["id"], _row(logged.team))
        for part in (logged.task, logged.task_category, logged.category):
            if part is not None:
                (loaders.task if part is logged.task else loaders.category).prime(
                    part["id"], _row(part)
                )
        loaders.entry_comments.prime(entry.id, [])
        loaders.entry_tags.prime(entry.id, [])  # a log with tags is the ORM path's
        payload = TimeEntryPayload(time_entry=TimeEntry(row=entry), replayed=False, user_errors=[])
        assert step.completion is not None
        try:
            (answer,) = await runner.complete([payload], step.completion)
        except Exception as exc:
            # Committed: the answer cannot be standard execution's (it would log again).
            raise Unavailable from exc
        self.logged += 1
        return {step.key: answer}


# Where a computed field reads nothing of the viewer (only the entry and the instant),
# and the relations whose values do not depend on who reads them (``User.runningEntry``
# does: it is null outside the viewer's teams).
_VIEWER_FREE_COMPUTED = frozenset({"TimeEntry", "Tag"})
_VIEWER_FREE_LOADERS = frozenset(
    {
        "team",
        "user",
        "task",
        "category",
        "entry",
        "entry_comments",
        "team_categories",
        "entry_tags",
        "tag",
    }
)


def _viewer_free(completion: Completion | None) -> bool:
    """Whether a payload can be answered without knowing the viewer: the write checks the
    token itself, so its context has none (``User.email`` or ``Member.rateCents`` would
    need one: those payloads go through the runner, with an authenticated context)."""
    if isinstance(completion, ListOf):
        return _viewer_free(completion.item)
    if not isinstance(completion, Obj):
        return True
    for s in completion.steps:
        if s.kind == COMPUTED and completion.type_name not in _VIEWER_FREE_COMPUTED:
            return False
        if s.kind not in (TYPENAME, COLUMN, ATTR, COMPUTED, RELATED):
            return False
        if s.kind == RELATED and s.fn.loader not in _VIEWER_FREE_LOADERS:
            return False
        if not _viewer_free(s.completion):
            return False
    return True
