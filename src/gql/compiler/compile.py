"""Compiling a document into a plan: which rows to fetch and how to build the answer.

A document is plannable when its one operation is a query whose root fields are all
``timeEntries`` (or ``__typename``), every field below is listed in ``fields`` and no
directive appears. Fragments on the same type are inlined. Everything else raises
``Fallback`` and is answered by standard execution, which also owns every error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
    parse,
    validate,
)
from graphql.error import GraphQLError

from gql.compiler.fields import COLUMNS, RELATIONS, Fallback, int32, same
from gql.schema.types.entry import format_duration
from gql.schema.types.pagination import entry_cursor
from store.entry_rules import entry_amount_cents, entry_rounded_seconds, entry_seconds

Row = dict[str, Any]
Build = Callable[[Row, datetime], Any]
# A generous bound on the fields of a plannable document: bigger documents take the
# standard path, where the query limits apply.
MAX_FIELDS = 500


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    has_next: bool
    has_previous: bool
    total: int | None
    now: datetime


@dataclass(frozen=True)
class RootField:
    key: str
    node: FieldNode
    needs_total: bool
    build: Callable[[Page], dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    # (response key, field); a plain string is the value itself (``__typename``).
    roots: tuple[tuple[str, RootField | str], ...]
    # The columns to fetch, by relation (``entry`` is the entry itself): only those the
    # document reads, so the row carries and converts nothing else.
    columns: dict[str, frozenset[str]]


@dataclass(frozen=True)
class WritePlan:
    """A ``logTimeEntry`` mutation: its field and a builder of its payload from the new
    entry's joined row (the same row shape as a page's)."""

    operation: OperationDefinitionNode
    key: str
    node: FieldNode
    build: Build
    columns: dict[str, frozenset[str]]


class _Compiler:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.fields = 0
        self.columns: dict[str, set[str]] = {"entry": {"id", "started_at"}}
        self.namespace: dict[str, object] = {}

    def use(self, relation: str, *columns: str) -> None:
        self.columns.setdefault(relation, {"id"}).update(columns)

    def collect(self, selection_set: SelectionSetNode | None, type_name: str) -> list[FieldNode]:
        """The fields of a selection set with same-type fragments inlined; no directives,
        no response key twice (merging is left to the standard path)."""
        if selection_set is None:
            raise Fallback
        out: list[FieldNode] = []
        for selection in selection_set.selections:
            if selection.directives:
                raise Fallback
            if isinstance(selection, FieldNode):
                out.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != type_name:
                    raise Fallback
                out += self.collect(selection.selection_set, type_name)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if (
                    fragment is None
                    or fragment.directives
                    or fragment.type_condition.name.value != type_name
                ):
                    raise Fallback
                out += self.collect(fragment.selection_set, type_name)
        keys = [_key(f) for f in out]
        if len(set(keys)) != len(keys):
            raise Fallback
        self.fields += len(out)
        if self.fields > MAX_FIELDS:
            raise Fallback
        return out

    def build_object(
        self, type_name: str, prefix: str, selection_set: SelectionSetNode | None
    ) -> Build:
        """A builder of one object of ``type_name`` from the joined row's ``prefix`` columns.

        It is compiled Python: one dict display per object, nested ones inline, so a node
        costs a single call instead of one per field."""
        source = f"lambda row, now: {self.object_source(type_name, prefix, selection_set)}"
        build: Build = eval(source, dict(self.namespace))  # names and labels are checked
        return build

    def object_source(
        self, type_name: str, prefix: str, selection_set: SelectionSetNode | None
    ) -> str:
        items = []
        for f in self.collect(selection_set, type_name):
            if f.arguments:
                raise Fallback
            items.append(f"{_key(f)!r}: {self.field_source(type_name, prefix, f)}")
        return "{" + ", ".join(items) + "}"

    def bind(self, value: object) -> str:
        """The name under which compiled code finds ``value``."""
        name = f"_v{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def field_source(self, type_name: str, prefix: str, f: FieldNode) -> str:
        name = f.name.value
        if name == "__typename":
            return repr(type_name)
        column = COLUMNS.get(type_name, {}).get(name)
        if column is not None and f.selection_set is None:
            label, convert = f"{prefix}__{column[0]}", column[1]
            self.use(prefix, column[0])
            if convert is same:
                return f"row[{label!r}]"
            return f"{self.bind(convert)}(row[{label!r}])"
        if type_name == "TimeEntry":
            computed = _entry_field(name, f, self)
            if computed is not None:
                return f"{self.bind(computed)}(row, now)"
        relation = RELATIONS.get((type_name, name))
        if relation is None:
            raise Fallback
        target, nullable = relation
        self.use(target)
        target_type = {"team": "Team", "user": "User", "task": "Task"}.get(target, "Category")
        sub = self.object_source(target_type, target, f.selection_set)
        missing = "None" if nullable else f"{self.bind(_missing)}()"
        return f"({missing} if row[{target + '__id'!r}] is None else {sub})"


def _missing() -> None:
    # A non-null relation without its row: the standard path fails there; let it say how.
    raise Fallback


def _key(f: FieldNode) -> str:
    return f.alias.value if f.alias else f.name.value


def _constant(value: Any) -> Build:
    return lambda _row, _now: value


def _column(label: str) -> Build:
    return lambda row, _now: row[label]


def _nodes(node: Build) -> Callable[[Page], Any]:
    return lambda page: [node(row, page.now) for row in page.rows]


def _cursor(row: Row, _now: datetime) -> str:
    return entry_cursor(row["entry__started_at"], row["entry__id"])


def _seconds(row: Row, now: datetime) -> int:
    return entry_seconds(row["entry__duration_seconds"], row["entry__started_at"], now)


def _rounded(row: Row, now: datetime) -> int:
    if row["team__id"] is None:
        raise Fallback
    return entry_rounded_seconds(
        row["entry__frozen_rounded_seconds"],
        _seconds(row, now),
        row["team__rounding"],
        row["team__rounding_minutes"],
    )


def _amount(row: Row, now: datetime) -> int:
    return entry_amount_cents(
        row["entry__frozen_amount_cents"],
        row["entry__rate_snapshot_cents"],
        _rounded(row, now),
        billable=row["entry__billable"],
    )


def _entry_field(name: str, f: FieldNode, compiler: _Compiler) -> Build | None:
    """The TimeEntry fields computed from the row (as ``gql.schema.types.entry`` computes them)."""
    leaf = f.selection_set is None
    use = compiler.use
    if name in ("durationSeconds", "formattedDuration", "roundedSeconds", "amountCents"):
        use("entry", "duration_seconds", "started_at")
    if name in ("roundedSeconds", "amountCents"):
        use("team", "rounding", "rounding_minutes")
        use("entry", "frozen_rounded_seconds")
    if name == "amountCents":
        use("entry", "billable", "rate_snapshot_cents", "frozen_amount_cents")
    if name == "running" and leaf:
        use("entry", "stopped_at")
        return lambda row, _now: row["entry__stopped_at"] is None
    if name == "durationSeconds" and leaf:
        return lambda row, now: int32(_seconds(row, now))
    if name == "formattedDuration" and leaf:
        return lambda row, now: format_duration(_seconds(row, now))
    if name == "roundedSeconds" and leaf:
        return lambda row, now: int32(_rounded(row, now))
    if name == "amountCents" and leaf:
        return lambda row, now: int32(_amount(row, now))
    if name == "externalRef" and not leaf:
        parts = {"provider": "ext_provider", "externalType": "ext_type", "externalId": "ext_id"}
        use("entry", *parts.values())
        items: list[tuple[str, Build]] = []
        for sub in compiler.collect(f.selection_set, "ExternalRef"):
            sub_name = sub.name.value
            if sub_name == "__typename":
                items.append((_key(sub), _constant("ExternalRef")))
            else:
                label = f"entry__{parts[sub_name]}"
                items.append((_key(sub), _column(label)))
        built = tuple(items)

        def external_ref(row: Row, now: datetime) -> Any:
            if (
                row["entry__ext_provider"] is None
                or row["entry__ext_type"] is None
                or row["entry__ext_id"] is None
            ):
                return None
            return {key: get(row, now) for key, get in built}

        return external_ref
    return None


def _connection(compiler: _Compiler, f: FieldNode) -> RootField:
    needs_total = False
    items: list[tuple[str, Callable[[Page], Any]]] = []
    for sub in compiler.collect(f.selection_set, "TimeEntryConnection"):
        name, key = sub.name.value, _key(sub)
        if name == "__typename":
            items.append((key, lambda _page: "TimeEntryConnection"))
        elif name == "totalCount":
            needs_total = True
            items.append((key, lambda page: int32(page.total)))
        elif name == "nodes":
            node = compiler.build_object("TimeEntry", "entry", sub.selection_set)
            items.append((key, _nodes(node)))
        elif name == "edges":
            items.append((key, _edges(compiler, sub)))
        elif name == "pageInfo":
            items.append((key, _page_info(compiler, sub)))
        else:
            raise Fallback
    built = tuple(items)

    def build(page: Page) -> dict[str, Any]:
        return {key: get(page) for key, get in built}

    return RootField(_key(f), f, needs_total, build)


def _edges(compiler: _Compiler, f: FieldNode) -> Callable[[Page], Any]:
    items: list[tuple[str, Build]] = []
    for sub in compiler.collect(f.selection_set, "TimeEntryEdge"):
        name = sub.name.value
        if name == "__typename":
            items.append((_key(sub), _constant("TimeEntryEdge")))
        elif name == "cursor":
            items.append(
                (
                    _key(sub),
                    _cursor,
                )
            )
        elif name == "node":
            items.append(
                (_key(sub), compiler.build_object("TimeEntry", "entry", sub.selection_set))
            )
        else:
            raise Fallback
    built = tuple(items)

    def edges(page: Page) -> list[dict[str, Any]]:
        return [{key: get(row, page.now) for key, get in built} for row in page.rows]

    return edges


def _page_info(compiler: _Compiler, f: FieldNode) -> Callable[[Page], Any]:
    def cursor(row: Row | None) -> str | None:
        return None if row is None else entry_cursor(row["entry__started_at"], row["entry__id"])

    getters: dict[str, Callable[[Page], Any]] = {
        "__typename": lambda _page: "PageInfo",
        "hasNextPage": lambda page: page.has_next,
        "hasPreviousPage": lambda page: page.has_previous,
        "startCursor": lambda page: cursor(page.rows[0] if page.rows else None),
        "endCursor": lambda page: cursor(page.rows[-1] if page.rows else None),
    }
    items = []
    for sub in compiler.collect(f.selection_set, "PageInfo"):
        if sub.name.value not in getters:
            raise Fallback
        items.append((_key(sub), getters[sub.name.value]))
    built = tuple(items)
    return lambda page: {key: get(page) for key, get in built}


def _fresh_list(_row: Row, _now: datetime) -> list[Any]:
    return []


def _write_plan(compiler: _Compiler, operation: OperationDefinitionNode) -> WritePlan:
    """``mutation { logTimeEntry(input: ...) { timeEntry {...} replayed userErrors {...} } }``
    as it answers when it succeeds: anything else is the standard path's (errors too)."""
    roots = compiler.collect(operation.selection_set, "Mutation")
    if len(roots) != 1 or roots[0].name.value != "logTimeEntry":
        raise Fallback
    f = roots[0]
    items: list[tuple[str, Build]] = []
    for sub in compiler.collect(f.selection_set, "TimeEntryPayload"):
        name, key = sub.name.value, _key(sub)
        if name == "__typename":
            items.append((key, _constant("TimeEntryPayload")))
        elif name == "replayed":
            items.append((key, _constant(False)))
        elif name == "userErrors":
            compiler.collect(sub.selection_set, "UserError")  # directives take the other path
            items.append((key, _fresh_list))
        elif name == "timeEntry":
            items.append((key, compiler.build_object("TimeEntry", "entry", sub.selection_set)))
        else:
            raise Fallback
    built = tuple(items)

    def build(row: Row, now: datetime) -> dict[str, Any]:
        return {key: get(row, now) for key, get in built}

    columns = {relation: frozenset(names) for relation, names in compiler.columns.items()}
    return WritePlan(operation, _key(f), f, build, columns)


def compile_plan(
    schema: GraphQLSchema, query: str, operation_name: str | None
) -> Plan | WritePlan | None:
    """The plan of a document, or None when the standard path must answer it."""
    try:
        document: DocumentNode = parse(query)
    except GraphQLError:
        return None
    if validate(schema, document):
        return None
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation == OperationType.SUBSCRIPTION:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    compiler = _Compiler(fragments)
    if operation.operation == OperationType.MUTATION:
        try:
            return _write_plan(compiler, operation)
        except Fallback:
            return None
    try:
        roots: list[tuple[str, RootField | str]] = []
        for f in compiler.collect(operation.selection_set, "Query"):
            if f.name.value == "__typename":
                roots.append((_key(f), "Query"))
            elif f.name.value == "timeEntries":
                roots.append((_key(f), _connection(compiler, f)))
            else:
                raise Fallback
    except Fallback:
        return None
    columns = {relation: frozenset(names) for relation, names in compiler.columns.items()}
    return Plan(operation, tuple(roots), columns)
