"""The compiled write path: ``logTimeEntry`` in two statements instead of some ten.

A plannable ``logTimeEntry`` document (see ``compile._write_plan``) has its input coerced
by graphql-core as standard execution coerces it, turned into the same ``LogEntry`` and
the same request hash, and logged by ``store.entry_writes``, which runs the ORM path's own
checks and column values. The payload is built before the write commits (a payload that
cannot be built rolls the write back), so nothing after the commit can fail but the event,
published exactly as the mutation runner publishes it.

Whatever ``store.entry_writes`` does not take (another member, a client id, an external
ref, any refused check, a repeated idempotency key) raises before anything is written and
the standard path answers from the start. After a write was sent, a failure whose outcome
is unknown (the PostgreSQL connection lost mid-statement) falls back only when an
idempotency key makes the retry safe; without one it is answered as UNAVAILABLE, as a lost
database is anywhere else, rather than risk logging the entry twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLField, GraphQLSchema
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.types.base import StrawberryObjectDefinition

from gql.compiler.compile import Row, WritePlan
from gql.compiler.fields import Fallback
from gql.schema.context import Context
from gql.schema.mutations.entries import log_entry_data
from gql.schema.mutations.inputs import LogTimeEntryInput
from gql.schema.mutations.runner import plain
from store import entry_writes, idempotency
from store.timeutil import utcnow

MUTATION = "logTimeEntry"


class Unavailable(Exception):
    """The write was sent and its outcome is unknown: answer UNAVAILABLE, do not retry."""


class LogWriter:
    """Runs ``logTimeEntry`` write plans against one schema."""

    def __init__(self, schema: GraphQLSchema, names: Mapping[str, str]) -> None:
        self._graphql = schema
        mutation_type = schema.mutation_type
        assert mutation_type is not None
        self._field: GraphQLField = mutation_type.fields[MUTATION]
        # The input's GraphQL field names -> its Python attributes.
        self._names = tuple(names.items())

    @classmethod
    def of(cls, schema: GraphQLSchema, name_of: Any) -> LogWriter:
        definition: StrawberryObjectDefinition = LogTimeEntryInput.__strawberry_definition__  # type: ignore[attr-defined]
        names = {name_of(f): f.python_name for f in definition.fields}
        return cls(schema, names)

    def _input(self, plan: WritePlan, variables: dict[str, Any]) -> LogTimeEntryInput:
        """The input exactly as Strawberry's conversion builds it for the resolver: coerced
        by graphql-core (scalars parsed, enums converted, absent fields null)."""
        coerced = get_variable_values(
            self._graphql, plan.operation.variable_definitions or (), variables
        )
        if isinstance(coerced, list):  # invalid variables: the standard path's error
            raise Fallback
        raw = get_argument_values(self._field, plan.node, coerced)["input"]
        if raw.get("externalRef") is not None:  # a nested input: not taken here anyway
            raise Fallback
        return LogTimeEntryInput(**{python: raw.get(name) for name, python in self._names})

    async def run(self, plan: WritePlan, ctx: Context, variables: dict[str, Any]) -> dict[str, Any]:
        """The data of the answer; ``Fallback`` before anything was written."""
        token = ctx.token
        if token is None:
            raise Fallback
        given = self._input(plan, variables)
        key = given.idempotency_key
        if key is not None and not 1 <= len(key) <= idempotency.MAX_KEY_LENGTH:
            raise Fallback
        data = log_entry_data(given)
        now = utcnow()

        def payload(logged: entry_writes.Logged) -> Any:
            return plan.build(_joined(logged, plan.columns), ctx.now)

        try:
            _, answer, event = await entry_writes.log_entry(
                ctx.db,
                token=token,
                data=data,
                mutation=MUTATION,
                key=key,
                digest=idempotency.request_hash(MUTATION, plain(given)),
                now=now,
                prepare=payload,
            )
        except entry_writes.NotHandled as exc:
            raise Fallback from exc
        except entry_writes.Uncertain as exc:
            if key is not None:
                raise Fallback from exc  # the standard path replays it or logs it once
            raise Unavailable from exc
        await ctx.services.events.publish([event])
        return {plan.key: answer}


def _joined(logged: entry_writes.Logged, columns: Mapping[str, frozenset[str]]) -> Row:
    """The row the compiled builders read (``<relation>__<column>``), from the new entry
    and the rows it refers to."""
    row: Row = {}
    sources: dict[str, Row | None] = {
        "entry": logged.entry,
        "user": logged.user,
        "team": logged.team,
        "task": logged.task,
        "task_category": logged.task_category,
        "category": logged.category,
    }
    for relation, names in columns.items():
        source = sources[relation]
        for name in names:
            row[f"{relation}__{name}"] = None if source is None else source[name]
    return row
