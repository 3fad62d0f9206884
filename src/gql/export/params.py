"""An export's query parameters read as the GraphQL arguments they mirror.

``GET /export/time-entries.csv?teamId=T&userIds=A&userIds=B&from=…`` means
``timeEntries(filter: {teamId: T, userIds: [A, B], from: …})``: each field of the root
field's ``filter`` is a parameter, and so is each other argument (``groupBy``,
``timeZone``, ``weekStart`` of ``timeReport``), typed by the schema. The values are
coerced by graphql-core as variables are (the same ``DateTime``, enum and ``ID`` rules,
and their messages) and made into the resolver's Strawberry objects by Strawberry: no
second parser of any of these types. Only the query string's shape is read here: a list
is a repeated parameter or comma-separated values (no id, enum name or group key holds a
comma), ``true``/``false`` are Booleans, digits are Ints, and an empty value is a
parameter not given (a form's empty field).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import strawberry
from graphql import (
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    OperationDefinitionNode,
    get_named_type,
    parse,
)
from graphql.execution.values import get_variable_values
from strawberry.types.arguments import StrawberryArgument, convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from gql.guard.inputguard import NUL
from gql.schema.errors import TopLevelCode

FILTER = "filter"
PAGING = frozenset({"first", "after"})  # an export has no pages
_INT = re.compile(r"-?[0-9]+")
_AT_FIELD = re.compile(r"^Variable '\$filter' has invalid value at \.(\w+)(\S*): ")
_AT_ARGUMENT = re.compile(r"^Variable '\$(\w+)' has invalid value(?: at \S+)?: ")
_REQUIRED_FIELD = re.compile(
    r"^Variable '\$filter' has invalid value: Expected value of type '\w+' to include "
    r"required field '(\w+)'"
)
_REQUIRED_ARGUMENT = re.compile(
    r"^Variable '\$(\w+)' has invalid value: Expected a value of non-null type '.+' to be "
    r"provided\.$"
)


class BadParameters(Exception):
    """Parameters that name no argument or do not coerce: the client's to fix (HTTP 400)."""

    def __init__(self, code: TopLevelCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Parameters:
    """The parameters of one root field (``timeEntries``, ``timeReport``: its Python
    name) and the export's own ``options`` (``excel``, ``format``), read from the schema
    once."""

    def __init__(self, schema: strawberry.Schema, field: str, options: frozenset[str]) -> None:
        self.schema = schema
        self.options = options
        converter = schema.config.name_converter
        query = schema.get_type_by_name("Query")
        assert isinstance(query, StrawberryObjectDefinition)
        resolver = next(f for f in query.fields if f.python_name == field)
        root = schema._schema.query_type
        assert root is not None
        arguments = {
            name: argument
            for name, argument in root.fields[converter.get_graphql_name(resolver)].args.items()
            if name not in PAGING
        }
        by_name = {converter.from_argument(a): a for a in resolver.arguments}
        self._arguments: dict[str, StrawberryArgument] = {n: by_name[n] for n in arguments}
        signature = ", ".join(f"${name}: {argument.type}" for name, argument in arguments.items())
        operation = parse(f"query({signature}) {{ __typename }}").definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        self._definitions = operation.variable_definitions or ()
        # Each parameter: the argument it goes into (the filter) or None, and its type.
        self._types: dict[str, tuple[str | None, GraphQLInputType]] = {}
        for name, argument in arguments.items():
            named = get_named_type(argument.type)
            if name == FILTER and isinstance(named, GraphQLInputObjectType):
                for field_name, input_field in named.fields.items():
                    self._types[field_name] = (FILTER, input_field.type)
            else:
                self._types[name] = (None, argument.type)

    @property
    def names(self) -> list[str]:
        """Every parameter this export takes, in the schema's order, options last."""
        return [*self._types, *sorted(self.options)]

    def read(self, query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """The resolver's keyword arguments (Python names, Strawberry objects) for the
        parameters of ``query`` (name -> its values); :class:`BadParameters` else."""
        variables: dict[str, Any] = {FILTER: {}} if FILTER in self._arguments else {}
        for name, values in query.items():
            if any(NUL in v for v in values):
                raise BadParameters(
                    TopLevelCode.BAD_USER_INPUT,
                    f"Parameter `{name}` may not contain the NUL character (U+0000).",
                )
            if name in self.options:
                continue
            if name not in self._types:
                raise BadParameters(
                    TopLevelCode.BAD_REQUEST,
                    f"Unknown parameter `{name}`; this export takes: {', '.join(self.names)}.",
                )
            into, type_ = self._types[name]
            value = _value(name, values, type_)
            if value is None:
                continue  # empty: not given
            if into is None:
                variables[name] = value
            else:
                variables[into][name] = value
        coerced = get_variable_values(self.schema._schema, self._definitions, variables)
        if isinstance(coerced, list):
            raise BadParameters(
                TopLevelCode.BAD_USER_INPUT, " ".join(_message(e.message) for e in coerced)
            )
        registry = self.schema.schema_converter.scalar_registry
        return {
            argument.python_name: convert_argument(
                coerced.coerced[name], argument.type, registry, self.schema.config
            )
            for name, argument in self._arguments.items()
            if name in coerced.coerced
        }


def _value(name: str, values: Sequence[str], type_: GraphQLInputType) -> Any:
    """The variable value of a parameter's texts, by the shape of its type; None for a
    parameter given empty."""
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        items = [item for text in values for item in text.split(",") if item != ""]
        return [_scalar(item, inner.of_type) for item in items] if items else None
    given = [v for v in values if v != ""]
    if len(given) > 1:
        raise BadParameters(
            TopLevelCode.BAD_REQUEST,
            f"Parameter `{name}` is given {len(given)} times; it takes one.",
        )
    return _scalar(given[0], inner) if given else None


def _scalar(text: str, type_: GraphQLInputType) -> Any:
    """What a JSON variable would hold: a Boolean or an Int as such, else the text (which
    the coercion refuses, with its message, when it is no value of the type)."""
    named = get_named_type(type_).name
    if named == "Boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if named == "Int" and _INT.fullmatch(text):
        return int(text)
    return text


def _message(message: str) -> str:
    """graphql-core's message about a variable, told of the parameter instead."""
    if found := _REQUIRED_FIELD.match(message):
        return f"Parameter `{found[1]}` is required."
    if found := _REQUIRED_ARGUMENT.match(message):
        return f"Parameter `{found[1]}` is required."
    if found := _AT_FIELD.match(message):
        return f"Parameter `{found[1]}`{found[2]}: " + message[found.end() :]
    if found := _AT_ARGUMENT.match(message):
        return f"Parameter `{found[1]}`: " + message[found.end() :]
    return message
