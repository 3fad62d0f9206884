"""The ``Idempotency-Key`` HTTP header as the ``idempotencyKey`` of a one-mutation request.

Clients built for HTTP APIs (Stripe's convention, the IETF draft
``draft-ietf-httpapi-idempotency-key-header``) send the key as a header. For a POST whose
operation is a mutation of exactly one field, the header's value is put into that field's
``input.idempotencyKey`` (into the variables when ``input`` is a variable, into the
document when it is written inline), so the mutation applies its own rules to it: the
same key, the same scope (viewer and mutation), the same 24 hours and the same
``VALIDATION`` of its length. A request that also sends ``idempotencyKey`` with another
value is refused with ``IDEMPOTENCY_CONFLICT``; one with the header and more than one
mutation field with ``VALIDATION``. Queries ignore the header (they are safe to repeat).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    NameNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
    Visitor,
    parse,
    print_ast,
    visit,
)

from gql.schema.errors import ErrorCode
from gql.server.middleware.body import Refusal

FIELD = "idempotencyKey"
CONFLICT = ErrorCode.IDEMPOTENCY_CONFLICT.value
VALIDATION = ErrorCode.VALIDATION.value


def _operation(document: DocumentNode, name: object) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if isinstance(name, str):
        operations = [o for o in operations if o.name is not None and o.name.value == name]
    return operations[0] if len(operations) == 1 else None


def with_key(payload: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The request with ``key`` as its mutation's ``input.idempotencyKey``; None when the
    header does not apply (not a mutation, or a request the view will refuse anyway)."""
    query = payload.get("query")
    if not isinstance(query, str):
        return None
    try:
        document = parse(query)
    except GraphQLError:
        return None  # the view answers the syntax error
    operation = _operation(document, payload.get("operationName"))
    if operation is None or operation.operation != OperationType.MUTATION:
        return None
    fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(fields) != 1 or len(operation.selection_set.selections) != 1:
        raise Refusal(
            VALIDATION, "An Idempotency-Key header needs a request of exactly one mutation field."
        )
    argument = next((a for a in fields[0].arguments or () if a.name.value == "input"), None)
    variables = payload.get("variables")
    if argument is None:
        return None  # the view reports the missing input
    value = argument.value
    if isinstance(value, VariableNode):
        if not isinstance(variables, dict) or not isinstance(variables.get(value.name.value), dict):
            return None
        given = variables[value.name.value]
        _check(given.get(FIELD), key)
        variables = {**variables, value.name.value: {**given, FIELD: key}}
        return {**payload, "variables": variables}
    if not isinstance(value, ObjectValueNode):
        return None
    inline = next((f for f in value.fields if f.name.value == FIELD), None)
    if inline is not None:
        written = inline.value
        if isinstance(written, VariableNode):
            _check((variables or {}).get(written.name.value), key)
        elif isinstance(written, StringValueNode):
            _check(written.value, key)
        return None  # the same key: the request stands as it is
    added = ObjectFieldNode(name=NameNode(value=FIELD), value=StringValueNode(value=key))
    replaced = ArgumentNode(
        name=argument.name, value=ObjectValueNode(fields=(*value.fields, added))
    )

    class AddKey(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: object) -> ArgumentNode | None:
            return replaced if node is argument else None

    return {**payload, "query": print_ast(visit(document, AddKey()))}


def _check(given: object, key: str) -> None:
    if given is not None and given != key:
        raise Refusal(
            CONFLICT,
            "The Idempotency-Key header and input.idempotencyKey differ: send one, or both alike.",
        )
