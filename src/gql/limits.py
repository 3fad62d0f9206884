"""Query limits measured on the parsed, valid document before anything executes.

One walk over the selected operation (fragments expanded) measures what the limits
compare: the field depth, the aliases, the page sizes asked for and the *nodes* the
operation can return, where every connection field multiplies the nodes below it by its
``first`` (given, from a variable, or the argument's default). The rate limiter charges
the operation's *cost* in points, derived from the nodes (see :func:`cost_of`).

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
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from graphql.type.definition import GraphQLInterfaceType

from gql.types.pagination import DEFAULT_PAGE, MAX_PAGE

NODES_PER_POINT = 100
MUTATION_POINTS = 10
UNBOUNDED_DEPTH_FIELDS = frozenset({"ofType"})
MEASURE_CACHE_SIZE = 512


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2000
    max_nodes: int = 10_000
    max_page: int = MAX_PAGE


@dataclass
class Measure:
    depth: int = 0
    aliases: int = 0
    nodes: int = 0
    mutations: int = 0
    largest_page: int = 0

    @property
    def cost(self) -> int:
        return cost_of(self.nodes, self.mutations)


def cost_of(nodes: int, mutations: int) -> int:
    """Points charged for an operation: one per started hundred nodes (at least one),
    like the big public GraphQL APIs, plus a flat charge per mutation field because
    writes cost more than their few returned nodes."""
    return max(1, math.ceil(nodes / NODES_PER_POINT)) + MUTATION_POINTS * mutations


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
) -> Measure | None:
    """What the operation asks for; ``None`` when the document names no runnable operation
    (validation or execution reports that).

    Cached per document (parsed documents are cached too, so a repeated query is the same
    object) and the values of the variables the walk reads, which are only those given
    as a ``first``: the walk visits the same fields whatever the variables say."""
    given = variables or {}
    key = DocumentKey(document)
    names = _first_variables(schema, key, operation_name)
    # With each value's type: 1, 1.0 and True are equal keys, and the walk tells them apart.
    bound = tuple((name, type(given[name]), given[name]) for name in names if name in given)
    try:
        found = _measure_cached(schema, key, operation_name, bound)
    except TypeError:  # a value that cannot be hashed (validation refuses it anyway)
        found = _measure(schema, document, operation_name, given)
    return None if found is None else replace(found)


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
    """The variables the walk reads (those given as a ``first``), in the order it reads them."""
    read: list[str] = []
    _measure(schema, key.document, operation_name, {}, read=read)
    return tuple(dict.fromkeys(read))


@lru_cache(maxsize=MEASURE_CACHE_SIZE)
def _measure_cached(
    schema: GraphQLSchema,
    key: DocumentKey,
    operation_name: str | None,
    bound: tuple[tuple[str, type, Any], ...],
) -> Measure | None:
    return _measure(schema, key.document, operation_name, {name: v for name, _, v in bound})


def _measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    *,
    read: list[str] | None = None,
) -> Measure | None:
    operation = select_operation(document, operation_name)
    if operation is None:
        return None
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return None
    walker = _Walker(schema, document, operation, variables)
    if read is not None:
        walker.read = read
    result = Measure()
    walker.walk(root, operation.selection_set, depth=0, multiplier=1, into=result)
    if operation.operation == OperationType.MUTATION:
        result.mutations = walker.root_fields
    return result


def violations(found: Measure, limits: Limits) -> list[str]:
    """Messages for every limit the operation exceeds (empty when it may run)."""
    problems = []
    if found.depth > limits.max_depth:
        problems.append(f"Depth {found.depth} exceeds the limit of {limits.max_depth}.")
    if found.aliases > limits.max_aliases:
        problems.append(f"{found.aliases} aliases exceed the limit of {limits.max_aliases}.")
    if found.largest_page > limits.max_page:
        problems.append(f"`first` may not exceed {limits.max_page} (got {found.largest_page}).")
    if found.nodes > limits.max_nodes:
        problems.append(
            f"The operation may return {found.nodes} nodes, more than the limit of "
            f"{limits.max_nodes}: ask for smaller pages (`first`) in nested connections."
        )
    return problems


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self.root_fields = 0
        self.read: list[str] = []  # variables read, in order (see _first_variables)

    def walk(
        self,
        parent: Any,
        selection_set: SelectionSetNode,
        *,
        depth: int,
        multiplier: int,
        into: Measure,
        visiting: frozenset[str] = frozenset(),
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(parent, selection, depth, multiplier, into, visiting)
            elif isinstance(selection, InlineFragmentNode):
                on = parent
                if selection.type_condition is not None:
                    on = self.schema.get_type(selection.type_condition.name.value) or parent
                self.walk(
                    on,
                    selection.selection_set,
                    depth=depth,
                    multiplier=multiplier,
                    into=into,
                    visiting=visiting,
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:  # validation reports both
                    continue
                on = self.schema.get_type(fragment.type_condition.name.value) or parent
                self.walk(
                    on,
                    fragment.selection_set,
                    depth=depth,
                    multiplier=multiplier,
                    into=into,
                    visiting=visiting | {name},
                )

    def _field(
        self,
        parent: Any,
        node: FieldNode,
        depth: int,
        multiplier: int,
        into: Measure,
        visiting: frozenset[str],
    ) -> None:
        if depth == 0:
            self.root_fields += 1
        if node.alias is not None:
            into.aliases += 1
        name = node.name.value
        definition = self._definition(parent, name)
        level = depth if name in UNBOUNDED_DEPTH_FIELDS else depth + 1
        into.depth = max(into.depth, level)
        if node.selection_set is None or definition is None:
            return
        page = self._first(node, definition)
        if page is not None:
            into.largest_page = max(into.largest_page, page)
            multiplier *= max(page, 0)
        into.nodes += multiplier
        self.walk(
            get_named_type(definition.type),
            node.selection_set,
            depth=level,
            multiplier=multiplier,
            into=into,
            visiting=visiting,
        )

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

    def _first(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """The page size a connection field asks for, or ``None`` for other fields."""
        argument = definition.args.get("first")
        if argument is None:
            return None
        for given in node.arguments or ():
            if given.name.value != "first":
                continue
            value = given.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                self.read.append(value.name.value)
                bound = self.variables.get(value.name.value)
                return bound if isinstance(bound, int) else _default(argument.default_value)
            return _default(argument.default_value)
        return _default(argument.default_value)


def _default(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_PAGE
