"""Compiling a document into a plan: for each selected field, what to do for all the
objects of its level at once.

The plan is read off the schema: each field's declaration (``gql.schema.declare``) says
how it is answered; the document says which fields, under which response keys. Fields
are collected by graphql-core's own ``collect_fields`` (fragments, inline fragments,
``@include``/``@skip``, merging of the same response key), so the plan selects exactly
what standard execution would. A document the compiler does not take (subscriptions,
introspection, ``@defer``/``@stream``) raises ``NotCompiled``; an abstract type
(``Node``) is planned once per possible type, and each object runs the plan of its own;
``NOT_COMPILED`` lists the fields it never takes, each with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues

from gql.schema.declare import Column, Computed, Related, Resolved, plan_of

INT_MIN, INT_MAX = -(2**31), 2**31 - 1

# Fields the compiler never answers: standard execution does, for the reason given.
NOT_COMPILED: dict[str, str] = {
    "Subscription.*": "subscriptions are executed per event by gql.live.fanout",
}


class NotCompiled(Exception):
    """Standard execution answers this document (it also owns every error)."""


# Step kinds.
TYPENAME, ATTR, COLUMN, COMPUTED, RELATED, RESOLVED = range(6)


@dataclass
class Leaf:
    serialize: Callable[[Any], Any]
    nullable: bool


@dataclass
class ListOf:
    item: Completion
    nullable: bool


@dataclass
class Obj:
    type_name: str
    nullable: bool
    steps: list[Step] = field(default_factory=list)
    parts: list[Obj] | None = None  # a mutation's root fields, each run on its own
    built: Any = None  # run._builder's compiled builder of these steps, made once


@dataclass
class Abstract:
    """An interface (``Node``) or union: each object completes as its own type, the one
    whose Strawberry class built it; ``by_type`` is the plan of each possible type."""

    type_name: str
    nullable: bool
    by_type: dict[str, Obj]


Completion = Leaf | ListOf | Obj | Abstract


@dataclass
class Step:
    key: str
    kind: int
    name: str  # the Python attribute (ATTR), the row attribute (COLUMN), the type (TYPENAME)
    completion: Completion | None
    fn: Any = None  # Computed.fn, Related, or the resolver
    field: GraphQLField | None = None
    details: list[FieldDetails] | None = None
    takes_info: str | None = None
    takes_self: str | None = None
    arguments: Any = None  # Strawberry's arguments of the resolver
    # For a resolver that returns entries: the relations its document reads of them,
    # which the page's statement joins in (``Context.prefetch``).
    prefetch: dict[str, frozenset[str] | None] | None = None
    reads: tuple[str, ...] | None = None  # COMPUTED, RELATED: the row attributes read


@dataclass
class Plan:
    operation: OperationDefinitionNode
    root: Obj
    mutation: bool


def _int(value: Any) -> Any:
    if type(value) is int and INT_MIN <= value <= INT_MAX:
        return value
    raise NotCompiled("an Int outside 32 bits: standard execution reports it")


def _same_str(serialize: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def ser(value: Any) -> Any:
        return value if type(value) is str else serialize(value)

    return ser


def _bool(value: Any) -> Any:
    return value if type(value) is bool else _fail(value)


def _fail(_value: Any) -> Any:
    raise NotCompiled("a value standard execution would coerce or refuse")


def serializer(gtype: GraphQLScalarType | GraphQLEnumType) -> Callable[[Any], Any]:
    """The scalar's or enum's own ``serialize``, with a shortcut for values already in
    their serialized form (strings of String and ID, booleans, 32-bit ints)."""
    if isinstance(gtype, GraphQLScalarType):
        if gtype.name in ("String", "ID"):
            return _same_str(gtype.serialize)
        if gtype.name == "Int":
            return _int
        if gtype.name == "Boolean":
            return _bool
    return gtype.serialize


class Compiler:
    """Plans documents of one schema."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    def plan(
        self, document: DocumentNode, operation: OperationDefinitionNode, variables: VariableValues
    ) -> Plan:
        if operation.operation == OperationType.SUBSCRIPTION:
            raise NotCompiled("a subscription")
        fragments = {
            d.name.value: FragmentDetails(d)
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        mutation = operation.operation == OperationType.MUTATION
        root_type = self.schema.mutation_type if mutation else self.schema.query_type
        assert root_type is not None
        collected = collect_fields(self.schema, fragments, variables, root_type, operation)
        if collected.new_defer_usages:
            raise NotCompiled("@defer")
        root = Obj(root_type.name, False)
        root.steps = self._steps(fragments, variables, operation, root_type, collected)
        return Plan(operation, root, mutation)

    def _steps(
        self,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        operation: OperationDefinitionNode,
        parent: GraphQLObjectType,
        collected: Any,
    ) -> list[Step]:
        steps = []
        for key, details in collected.grouped_field_set.items():
            if any(d.defer_usage is not None for d in details):
                raise NotCompiled("@defer")
            name = details[0].node.name.value
            if name == "__typename":
                steps.append(Step(key, TYPENAME, parent.name, None))
                continue
            if name.startswith("__"):
                raise NotCompiled("introspection")
            gfield = parent.fields[name]
            definition = gfield.extensions.get("strawberry-definition")
            if definition is None:
                raise NotCompiled(f"{parent.name}.{name} is not Strawberry's")
            completion = self._completion(fragments, variables, operation, gfield.type, details)
            steps.append(self._step(key, gfield, definition, details, completion))
        return steps

    def _step(
        self,
        key: str,
        gfield: GraphQLField,
        definition: Any,
        details: list[FieldDetails],
        completion: Completion,
    ) -> Step:
        plan = plan_of(definition)
        if plan is None:
            return Step(key, ATTR, definition.python_name, completion)
        if isinstance(plan, Column):
            return Step(key, COLUMN, plan.attr, completion)
        if isinstance(plan, Computed):
            return Step(
                key, COMPUTED, definition.python_name, completion, plan.fn, reads=plan.reads
            )
        if isinstance(plan, Related):
            return Step(
                key, RELATED, definition.python_name, completion, plan, reads=plan.own_reads
            )
        assert isinstance(plan, Resolved)
        resolver = definition.base_resolver
        info = resolver.info_parameter
        own = resolver.self_parameter or resolver.root_parameter
        found: Reads = {}
        _entry_relations(completion, found)
        return Step(
            key,
            RESOLVED,
            definition.python_name,
            completion,
            resolver.wrapped_func,
            gfield,
            details,
            takes_info=info.name if info is not None else None,
            takes_self=own.name if own is not None else None,
            arguments=definition.arguments,
            prefetch=found or None,
        )

    def _completion(
        self,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        operation: OperationDefinitionNode,
        gtype: GraphQLOutputType,
        details: list[FieldDetails],
        nullable: bool = True,
    ) -> Completion:
        if isinstance(gtype, GraphQLNonNull):
            return self._completion(fragments, variables, operation, gtype.of_type, details, False)
        if isinstance(gtype, GraphQLList):
            item = self._completion(fragments, variables, operation, gtype.of_type, details)
            return ListOf(item, nullable)
        if isinstance(gtype, GraphQLScalarType | GraphQLEnumType):
            return Leaf(serializer(gtype), nullable)
        if isinstance(gtype, GraphQLInterfaceType | GraphQLUnionType):
            # Fragments on the abstract type and on each possible type are collected
            # for each possible type, as standard execution collects them for the
            # runtime type.
            by_type = {
                possible.name: self._object(
                    fragments, variables, operation, possible, details, nullable
                )
                for possible in self.schema.get_possible_types(gtype)
            }
            return Abstract(gtype.name, nullable, by_type)
        assert isinstance(gtype, GraphQLObjectType)
        return self._object(fragments, variables, operation, gtype, details, nullable)

    def _object(
        self,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        operation: OperationDefinitionNode,
        gtype: GraphQLObjectType,
        details: list[FieldDetails],
        nullable: bool,
    ) -> Obj:
        obj = Obj(gtype.name, nullable)
        collected = collect_subfields(self.schema, fragments, variables, operation, gtype, details)
        if collected.new_defer_usages:
            raise NotCompiled("@defer")
        obj.steps = self._steps(fragments, variables, operation, gtype, collected)
        return obj


# What a page of entries joins in, by the loader an entry's relation reads.
_JOINABLE = {"team": "team", "user": "user", "task": "task", "category": "category"}
Reads = dict[str, frozenset[str] | None]


def _reads(obj: Completion | None) -> set[str] | None:
    """The row attributes the steps of an object read (None: any of them)."""
    if isinstance(obj, Abstract):
        return None
    if not isinstance(obj, Obj):
        return set()
    out: set[str] = set()
    for step in obj.steps:
        if step.kind == COLUMN:
            out.add(step.name)
        elif step.kind in (COMPUTED, RELATED):
            reads = step.reads
            if reads is None:
                return None
            out.update(reads)
        elif step.kind == RESOLVED:
            return None  # a resolver may read any of them
    return out


def _merge(found: Reads, relation: str, reads: set[str] | None) -> None:
    if relation in found and found[relation] is None:
        return
    if reads is None:
        found[relation] = None
    else:
        found[relation] = frozenset(reads | (found.get(relation) or frozenset()))


def _entry_relations(completion: Completion | None, found: Reads) -> None:
    """What a resolver's entries (a list, or a connection's ``nodes`` and ``edges {
    node }``) are read for: their own attributes and those of the relations the plan
    reads through loaders (``store.entry_pages.entry_page`` joins those in)."""
    if isinstance(completion, ListOf):
        _entry_relations(completion.item, found)
    elif isinstance(completion, Obj):
        if completion.type_name != "TimeEntry":
            for step in completion.steps:
                # nodes, edges (computed from the nodes), node: the connection's own objects
                if step.kind in (ATTR, COMPUTED):
                    _entry_relations(step.completion, found)
            return
        _merge(found, "entry", _reads(completion))
        for step in completion.steps:
            relation = _JOINABLE.get(step.fn.loader) if step.kind == RELATED else None
            if relation is None:
                continue
            target = step.completion
            if isinstance(target, Obj):
                _merge(found, relation, _reads(target))
            else:
                targets = step.fn.target_reads
                _merge(found, relation, None if targets is None else set(targets))
            if relation == "category":
                _merge(found, "task", set())  # its key is the task's category
            if relation == "task" and isinstance(target, Obj):
                for sub in target.steps:
                    if sub.kind == RELATED and sub.fn.loader == "category":
                        _merge(found, "task_category", _reads(sub.completion))
