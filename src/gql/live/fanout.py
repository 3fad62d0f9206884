"""Shared execution of identical subscriptions.

Strawberry executes a subscription's selection set once per subscriber and event; with
thousands of dashboards on one team that is thousands of identical executions per change.
Here a subscription on ``timerEvents``, ``runningTimers`` or ``timeReportUpdates`` joins a
*group* keyed by its document, variables and operation name, plus the viewer when the
document selects a field whose value depends on who asks (e-mail, rates, a user's teams or
entries). The group runs the subscription once, encodes each result once, and every member
sends the same bytes. The *states* (the running list, a live report) hand a member who
joins late the group's last result at once; a live report is sent only when its encoded
bytes differ from the last the group sent (a second of a running timer that changes no
figure the document selects sends nothing).

Each member is still authorised on its own before anything is sent (its token and
membership are re-checked every few seconds), has its own bounded queue, and leaves the
group without disturbing the others. Anything else runs through Strawberry as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    ValueNode,
    VariableNode,
    parse,
    validate,
)
from graphql.error import GraphQLSyntaxError
from graphql.language import Visitor, visit

from gql.schema.context import Context
from gql.schema.errors import TopLevelCode
from gql.schema.loaders import Loaders

log = logging.getLogger("punchclock.fanout")

# The shared fields, and the path to each one's team id among its arguments.
SHAREABLE: dict[str, tuple[str, ...]] = {
    "timerEvents": ("teamId",),
    "runningTimers": ("teamId",),
    "timeReportUpdates": ("filter", "teamId"),
}
# States: a late member gets the group's last result; a newer one replaces it in a full queue.
STATES = frozenset({"runningTimers", "timeReportUpdates"})
# Sent only when the encoded result differs from the last one sent.
CHANGES_ONLY = frozenset({"timeReportUpdates"})
# Fields whose value depends on the viewer: documents selecting them are not shared
# between different viewers.
VIEWER_DEPENDENT = frozenset(
    {
        "email",
        "rateCents",
        "teams",
        "runningEntry",
        "timeEntries",
        "members",
        # The viewer's own: their tokens, favourite and recent tasks.
        "accessTokens",
        "pinned",
        "pinnedTasks",
        "recentTasks",
        # Visible to the entry's user and the team's admins only (TimeEntry.history).
        "history",
    }
)
QUEUE_LIMIT = 256
END = object()


@dataclass(frozen=True)
class Plan:
    field: str
    team_id: str
    key: tuple[Any, ...]


class _FieldNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.names.add(node.name.value)


@lru_cache(maxsize=256)
def _analyse(
    schema_id: int, query: str, operation_name: str | None
) -> tuple[str, Any, bool] | None:
    """(root field, its team argument's node, viewer dependent) for a shareable document."""
    from gql.schema.build import schema

    del schema_id  # part of the cache key only
    try:
        document: DocumentNode = parse(query)
    except GraphQLSyntaxError:
        return None
    if validate(schema._schema, document):
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.SUBSCRIPTION:
        return None
    selections = operations[0].selection_set.selections
    selection = selections[0] if len(selections) == 1 else None
    if not isinstance(selection, FieldNode) or selection.name.value not in SHAREABLE:
        return None
    if selection.directives:
        return None
    if any(a.name.value == "after" for a in selection.arguments or ()):
        return None  # a replay is each subscriber's own: a late joiner would miss it
    path = SHAREABLE[selection.name.value]
    team_arg = next((a.value for a in selection.arguments or () if a.name.value == path[0]), None)
    names = _FieldNames()
    visit(document, names)
    return selection.name.value, team_arg, bool(names.names & VIEWER_DEPENDENT)


def _value_at(node: ValueNode | None, path: tuple[str, ...], variables: dict[str, Any]) -> object:
    """The value at ``path`` inside the argument ``node`` (a literal, an object literal or
    a variable, at any level), or None."""

    def resolved(value: object) -> object:
        return variables.get(value.name.value) if isinstance(value, VariableNode) else value

    value: object = node
    for key in path:
        value = resolved(value)
        if isinstance(value, ObjectValueNode):
            value = next((f.value for f in value.fields if f.name.value == key), None)
        elif isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    value = resolved(value)
    return value.value if isinstance(value, StringValueNode) else value


def plan_for(
    query: str, variables: dict[str, Any] | None, operation_name: str | None, viewer_id: str
) -> Plan | None:
    analysed = _analyse(0, query, operation_name)
    if analysed is None:
        return None
    field_name, team_arg, viewer_dependent = analysed
    team_id = _value_at(team_arg, SHAREABLE[field_name][1:], variables or {})
    if not isinstance(team_id, str):
        return None
    variables_key = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    key = (query, variables_key, operation_name, viewer_id if viewer_dependent else None)
    return Plan(field_name, team_id, key)


@dataclass(eq=False)
class Member:
    """One subscriber's view of a group: encoded payloads waiting to be sent."""

    coalesce: bool
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False
    # Why it overflowed when the group's own execution fell behind (its message), not
    # this member's queue.
    reason: str | None = None

    def offer(self, item: Any) -> None:
        if self.overflowed and item is not END:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            if self.coalesce and item is not END:  # a state: the newest one is all it needs
                self.queue.put_nowait(item)
            else:
                self.overflowed = True
                self.queue.put_nowait(END)


@dataclass(eq=False)
class Group:
    plan: Plan
    members: set[Member] = field(default_factory=set)
    last: bytes | None = None
    task: asyncio.Task[None] | None = None

    def broadcast(self, item: Any) -> None:
        for member in list(self.members):
            member.offer(item)


def _too_slow(errors: list[GraphQLError]) -> str | None:
    """The message of a SUBSCRIBER_TOO_SLOW error among ``errors``, if there is one."""
    for error in errors:
        if (error.extensions or {}).get("code") == TopLevelCode.SUBSCRIBER_TOO_SLOW.value:
            return error.message
    return None


class FanOut:
    def __init__(self) -> None:
        self.groups: dict[tuple[Any, ...], Group] = {}

    @contextlib.asynccontextmanager
    async def join(
        self,
        plan: Plan,
        *,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> AsyncIterator[Member]:
        member = Member(coalesce=plan.field in STATES)
        group = self.groups.get(plan.key)
        if group is None:
            group = Group(plan)
            self.groups[plan.key] = group
            shared_context = dataclasses.replace(
                context, loaders=Loaders(context.db), shared=True, connection_params=None
            )
            group.task = asyncio.create_task(
                self._run(group, query, variables, operation_name, shared_context),
                name=f"fanout-{plan.field}",
            )
        elif group.last is not None:
            member.offer(group.last)
        group.members.add(member)
        try:
            yield member
        finally:
            group.members.discard(member)
            if not group.members and self.groups.get(plan.key) is group:
                del self.groups[plan.key]
                if group.task is not None:
                    group.task.cancel()

    async def _run(
        self,
        group: Group,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> None:
        schema = context.services.schema
        try:
            stream = await schema.stream(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
            )
            async for result in stream:
                payload: dict[str, Any] = {"data": getattr(result, "data", None)}
                errors: list[GraphQLError] | None = getattr(result, "errors", None)
                slow = _too_slow(errors or [])
                if slow is not None:
                    # The shared execution itself fell behind the broadcast (logged
                    # where it did): every member ends with the coded error frame.
                    for member in list(group.members):
                        member.overflowed, member.reason = True, slow
                    break
                if errors:
                    payload["errors"] = [e.formatted for e in errors]
                encoded = orjson.dumps(payload)
                if group.plan.field in CHANGES_ONLY and encoded == group.last:
                    continue
                if group.plan.field in STATES:
                    group.last = encoded
                group.broadcast(encoded)
                if group.members and all(m.overflowed for m in group.members):
                    # Nobody left to deliver to: every member ends with its error frame
                    # (once its socket takes it), and executing on for them would only
                    # read and encode what they drop.
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shared subscription failed")
        finally:
            self.groups.pop(group.plan.key, None) if self.groups.get(
                group.plan.key
            ) is group else None
            group.broadcast(END)

    @property
    def group_count(self) -> int:
        return len(self.groups)
