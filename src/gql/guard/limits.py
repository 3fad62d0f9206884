"""Query limits, measured on the parsed document in time linear in its size.

One walk over the document measures what the limits compare: the field depth, the
aliases, the page sizes asked for, the field selections of the whole document (every
operation, fragments expanded *per use*) and the *nodes* the selected operation can
return, where every connection field multiplies the nodes below it by its ``first``
(given, from a variable, or the argument's default). The rate limiter charges the
operation's *cost* in points, derived from the nodes (see :func:`cost_of`).

Linear, whatever the fragments do: each fragment is summarised once per walk (its depth,
aliases, fields and nodes below it, taken as if it started at depth 0 with one parent)
and every spread of it adds that summary, shifted by the spread's depth and multiplied by
its parent's page sizes. A document of 25 fragments that each spread the next twice
(the "fragment bomb", 2**25 fields once expanded) costs 26 summaries, not 2**25 visits,
and is refused for its expanded size before graphql-core validates it.

Why these limits are written here instead of taken from Strawberry's extensions:
``QueryDepthLimiter`` and ``MaxAliasesLimiter`` walk a fragment again at every spread
without memoising it (exponential on the bomb above: bench/hostile_bench.py times them),
and they run as validation rules, that is after or beside the graphql-core rules that a
hostile document makes slow. They also do not know connections, so the node count and
page sizes would still be ours. ``MaxTokensLimiter`` only sets graphql-core's
``max_tokens`` parse option, which :mod:`gql.guard.admission` passes itself with the configured
limit (the extension takes a fixed number when the schema is built; the limit here is
per application, from the settings).

Introspection counts like any other query, except that ``ofType`` does not deepen it:
the standard introspection query nests ``ofType`` nine levels to unwrap type modifiers,
and those levels are bounded by the schema's own wrappers (they answer ``null`` past
them), so they cost nothing worth limiting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from graphql.type.definition import GraphQLInterfaceType

from gql.schema.declare import BATCH
from gql.schema.types.pagination import DEFAULT_PAGE, MAX_PAGE

NODES_PER_POINT = 100
MUTATION_POINTS = 10
ITEM_POINTS = 1
UNBOUNDED_DEPTH_FIELDS = frozenset({"ofType"})
MEASURE_CACHE_SIZE = 512
# GraphQL's Int: a page size outside it is no page size (coercing the variable fails).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
    max_nodes: int = 10_000
    max_page: int = MAX_PAGE
    max_fields: int = 1000
    max_variables: int = 100
    validation_budget_ms: float = 50.0


@dataclass
class Measure:
    depth: int = 0
    aliases: int = 0
    nodes: int = 0
    mutations: int = 0
    items: int = 0  # the items of bulk mutations (``gql.schema.declare.batch``)
    largest_page: int = 0
    largest_argument: str = "first"  # the argument that asked for it: first, last or ids
    both_ends: bool = False  # a connection given both `first` and `last` (refused)
    # Of the whole document (every operation), not only the selected one.
    fields: int = 0
    variables: int = 0
    runnable: bool = False  # the document names an operation to run

    @property
    def cost(self) -> int:
        return cost_of(self.nodes, self.mutations, self.items)


def cost_of(nodes: int, mutations: int, items: int = 0) -> int:
    """Points charged for an operation: one per started hundred nodes (at least one),
    like the big public GraphQL APIs, plus a flat charge per mutation field because
    writes cost more than their few returned nodes, plus a point per item of a bulk
    mutation: an import of 500 entries is 500 writes, but one request, one transaction
    and one commit, so it costs 510 points where 500 ``logTimeEntry`` calls cost 5,500."""
    return (
        max(1, math.ceil(nodes / NODES_PER_POINT))
        + MUTATION_POINTS * mutations
        + ITEM_POINTS * items
    )


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    return None


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> Measure:
    """What the document asks for. Without a runnable operation (none of that name, or
    several and no name: validation or execution reports that) only the document-wide
    figures (fields, variables) are set.

    Cached per document (parsed documents are cached too, so a repeated query is the same
    object) and the values of the variables the walk reads, which are only those given
    as a ``first``, ``last`` or ``ids``: the walk visits the same fields whatever the
    variables say."""
    given = variables if isinstance(variables, Mapping) else {}
    key = DocumentKey(document)
    names = _first_variables(schema, key, operation_name)
    # With each value's type: 1, 1.0 and True are equal keys, and the walk tells them apart.
    bound = tuple(
        (name, type(given[name]), _hashable(given[name])) for name in names if name in given
    )
    try:
        found = _measure_cached(schema, key, operation_name, bound)
    except TypeError:  # a value that cannot be hashed (validation refuses it anyway)
        found = _measure(schema, document, operation_name, given)
    return replace(found)


class ListSizes(tuple[tuple[str, int], ...]):
    """What the walk reads of an input object: the length of each of its lists."""


def _hashable(value: Any) -> Any:
    """A list of ids as a tuple (the walk counts either), an input object as the sizes
    of its lists (all the walk reads of it: a 500-item import is not a cache key), for
    the cache key."""
    if isinstance(value, Mapping):
        return ListSizes(sorted((k, len(v)) for k, v in value.items() if isinstance(v, list)))
    return tuple(value) if isinstance(value, list) else value


class DocumentKey:
    """A document as a cache key by identity: graphql-core hashes a node by its whole tree
    (some 7 µs for a small mutation), and a repeated query is the same parsed object."""

    __slots__ = ("document",)

    def __init__(self, document: DocumentNode) -> None:
        self.document = document  # held by the key: its id is not reused while cached

    def __hash__(self) -> int:
        return id(self.document)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DocumentKey) and other.document is self.document


@lru_cache(maxsize=MEASURE_CACHE_SIZE)
def _first_variables(
    schema: GraphQLSchema, key: DocumentKey, operation_name: str | None
) -> tuple[str, ...]:
    """The variables the walk reads (those given as a ``first``, ``last`` or ``ids``, and
    the input of a bulk mutation), in the order it reads them."""
    read: list[str] = []
    _measure(schema, key.document, operation_name, {}, read=read)
    return tuple(dict.fromkeys(read))


@lru_cache(maxsize=MEASURE_CACHE_SIZE)
def _measure_cached(
    schema: GraphQLSchema,
    key: DocumentKey,
    operation_name: str | None,
    bound: tuple[tuple[str, type, Any], ...],
) -> Measure:
    return _measure(schema, key.document, operation_name, {name: v for name, _, v in bound})


def _measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    *,
    read: list[str] | None = None,
) -> Measure:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    selected = select_operation(document, operation_name)
    result = Measure()
    # The document's size: every operation, fragments expanded per use (what validation
    # walks), with fragment summaries shared between the operations.
    sizes = _Walker(schema, document, None, {})
    for operation in operations:
        result.fields += sizes.walk(_root(schema, operation), operation.selection_set).fields
        result.variables += len(operation.variable_definitions or ())
    if selected is None:
        return result
    root = _root(schema, selected)
    if root is None:
        return result
    result.runnable = True
    walker = _Walker(schema, document, selected, variables)
    if read is not None:
        walker.read = read
    found = walker.walk(root, selected.selection_set)
    result.depth, result.aliases = found.depth, found.aliases
    result.nodes, result.largest_page = found.nodes, found.largest_page
    result.largest_argument, result.both_ends = found.largest_argument, found.both_ends
    if selected.operation == OperationType.MUTATION:
        result.mutations, result.items = found.root_fields, found.items
    return result


def _root(schema: GraphQLSchema, operation: OperationDefinitionNode) -> GraphQLObjectType | None:
    return {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]


def violations(found: Measure, limits: Limits) -> list[str]:
    """Messages for every limit the document exceeds (empty when it may run)."""
    problems = shape_violations(found, limits)
    if found.largest_page > limits.max_page:
        if found.largest_argument == "ids":
            problems.append(
                f"`nodes` takes at most {limits.max_page} ids (got {found.largest_page})."
            )
        else:
            problems.append(
                f"`{found.largest_argument}` may not exceed {limits.max_page} "
                f"(got {found.largest_page})."
            )
    if found.nodes > limits.max_nodes:
        problems.append(
            f"The operation may return {found.nodes} nodes, more than the limit of "
            f"{limits.max_nodes}: ask for smaller pages (`first`) in nested connections."
        )
    return problems


def shape_violations(found: Measure, limits: Limits) -> list[str]:
    """The limits the document's shape exceeds, whatever its variables say."""
    problems = []
    if found.fields > limits.max_fields:
        problems.append(
            f"The document selects {found.fields} fields with its fragments expanded, "
            f"more than the limit of {limits.max_fields}."
        )
    if found.variables > limits.max_variables:
        problems.append(f"{found.variables} variables exceed the limit of {limits.max_variables}.")
    if found.depth > limits.max_depth:
        problems.append(f"Depth {found.depth} exceeds the limit of {limits.max_depth}.")
    if found.aliases > limits.max_aliases:
        problems.append(f"{found.aliases} aliases exceed the limit of {limits.max_aliases}.")
    return problems


@dataclass
class _Summary:
    """A selection set measured as if it started at depth 0 under one parent node."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0
    nodes: int = 0
    largest_page: int = 0
    largest_argument: str = "first"
    both_ends: bool = False
    root_fields: int = 0  # fields at its own level (through fragments too)
    items: int = 0  # items of the bulk mutations among them

    def page(self, size: int, argument: str) -> None:
        if size > self.largest_page:
            self.largest_page, self.largest_argument = size, argument

    def add(self, other: _Summary, *, below: int = 0, times: int = 1) -> None:
        self.depth = max(self.depth, below + other.depth)
        self.aliases += other.aliases
        self.fields += other.fields
        self.nodes += times * other.nodes
        self.page(other.largest_page, other.largest_argument)
        self.both_ends = self.both_ends or other.both_ends
        self.items += other.items


_EMPTY = _Summary()


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode | None,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables)
        for definition in (operation.variable_definitions if operation else None) or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self.summaries: dict[str, _Summary] = {}
        self.visiting: set[str] = set()
        self.read: list[str] = []  # variables read, in order (see _first_variables)

    def walk(self, parent: Any, selection_set: SelectionSetNode) -> _Summary:
        summary = _Summary()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(parent, selection, summary)
            elif isinstance(selection, InlineFragmentNode):
                on = parent
                if selection.type_condition is not None:
                    on = self.schema.get_type(selection.type_condition.name.value)
                inner = self.walk(on, selection.selection_set)
                summary.add(inner)
                summary.root_fields += inner.root_fields
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
                summary.add(inner)
                summary.root_fields += inner.root_fields
        return summary

    def _fragment(self, name: str) -> _Summary:
        found = self.summaries.get(name)
        if found is not None:
            return found
        fragment = self.fragments.get(name)
        if fragment is None or name in self.visiting:  # validation reports both
            return _EMPTY
        self.visiting.add(name)
        on = self.schema.get_type(fragment.type_condition.name.value)
        found = self.walk(on, fragment.selection_set)
        self.visiting.discard(name)
        self.summaries[name] = found
        return found

    def _field(self, parent: Any, node: FieldNode, into: _Summary) -> None:
        into.root_fields += 1
        into.fields += 1
        if node.alias is not None:
            into.aliases += 1
        name = node.name.value
        definition = self._definition(parent, name)
        if definition is not None and parent is self.schema.mutation_type:
            into.items += self._batch_items(node, definition)
        level = 0 if name in UNBOUNDED_DEPTH_FIELDS else 1
        into.depth = max(into.depth, level)
        if node.selection_set is None:
            return
        times = 1
        if definition is not None:
            sizes = self._sizes(node, definition)
            if len(sizes) > 1 and "ids" not in sizes:
                into.both_ends = True
            for argument, page in sizes.items():
                into.page(page, argument)
            if sizes:
                times = max(0, *sizes.values())
        # An unknown field's selections still cost validation: their size counts.
        below = self.walk(
            get_named_type(definition.type) if definition is not None else None,
            node.selection_set,
        )
        into.nodes += times
        into.add(below, below=level, times=times)

    def _definition(self, parent: Any, name: str) -> GraphQLField | None:
        if name == "__typename":
            return TypeNameMetaFieldDef
        if parent is self.schema.query_type and name == "__schema":
            return SchemaMetaFieldDef
        if parent is self.schema.query_type and name == "__type":
            return TypeMetaFieldDef
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        return None  # unions select fields through fragments only

    def _sizes(self, node: FieldNode, definition: GraphQLField) -> dict[str, int]:
        """What a field asks for by argument: a connection's page size (``first``, with
        its default unless ``last`` is given; ``last``), or the number of ``ids`` of a
        field that returns an object per id (``nodes``). Empty for other fields; two
        entries for a connection given both ``first`` and ``last`` (not null)."""
        args = definition.args
        given = {a.name.value: a.value for a in node.arguments or ()}
        if "ids" in args and isinstance(get_named_type(definition.type), GraphQLInterfaceType):
            return {"ids": self._count(given.get("ids"))}
        if "first" not in args:
            return {}
        sizes: dict[str, int] = {}
        if "last" in args and "last" in given:
            last = self._given_int(given["last"])
            if last is not None:
                sizes["last"] = _int_or_default(last, None)
        if "first" in given:
            first = self._given_int(given["first"])
            if first is not None or not sizes:
                sizes["first"] = _int_or_default(first, args["first"].default_value)
        elif not sizes:
            sizes["first"] = _default(args["first"].default_value)
        return sizes

    def _batch_items(self, node: FieldNode, definition: GraphQLField) -> int:
        """How many items a bulk mutation's input lists (0 for any other mutation)."""
        declared = (definition.extensions or {}).get("strawberry-definition")
        items = (getattr(declared, "metadata", None) or {}).get(BATCH)
        given = {a.name.value: a.value for a in node.arguments or ()}.get("input")
        if items is None or given is None:
            return 0
        if isinstance(given, ObjectValueNode):
            listed = [f.value for f in given.fields if f.name.value == items]
            return self._count(listed[0]) if listed else 0
        if isinstance(given, VariableNode):
            self.read.append(given.name.value)
            bound = self.variables.get(given.name.value)
            if isinstance(bound, ListSizes):
                return dict(bound).get(items, 0)
            if isinstance(bound, Mapping):
                value = bound.get(items)
                return len(value) if isinstance(value, list | tuple) else 0
        return 0

    def _given_int(self, value: ValueNode) -> object:
        """An argument's value as given (a variable's, read), None when null or unset."""
        if isinstance(value, VariableNode):
            self.read.append(value.name.value)
            return self.variables.get(value.name.value)
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, NullValueNode):
            return None
        return value  # not an Int: coercion refuses it

    def _count(self, value: ValueNode | None) -> int:
        """How many ids a list argument holds (a single value is a list of one)."""
        if value is None:
            return 0
        if isinstance(value, VariableNode):
            self.read.append(value.name.value)
            bound = self.variables.get(value.name.value)
            return len(bound) if isinstance(bound, list | tuple) else int(bound is not None)
        if isinstance(value, ListValueNode):
            return len(value.values)
        return 0 if isinstance(value, NullValueNode) else 1


def _int_or_default(value: object, default: object) -> int:
    """A page size given as an Int; anything else (a float, a string, a number no Int
    holds, such as 2**70) is the argument's default here, and coercion refuses it."""
    if isinstance(value, int) and INT_MIN <= value <= INT_MAX:
        return value
    return _default(default)


def _default(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_PAGE
