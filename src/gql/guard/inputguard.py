"""Refuse NUL characters (U+0000) anywhere in an operation's strings, before execution.

PostgreSQL text cannot hold NUL: a NUL in an id, a description or a filter reached the
database and failed there as an unexpected error (``INTERNAL``), while SQLite stored it.
Refusing it up front keeps both databases alike and the failure the client's to fix:
in the document it is ``GRAPHQL_VALIDATION_FAILED``, in the variables ``BAD_USER_INPUT``.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from gql.schema.errors import TopLevelCode

NUL = "\x00"


class _FindNul(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: StringValueNode | None = None

    def enter_string_value(self, node: StringValueNode, *_: object) -> object:
        if NUL in node.value and self.found is None:
            self.found = node
            return Visitor.BREAK
        return None


def nul_in_document(document: DocumentNode) -> StringValueNode | None:
    """The first string of ``document`` holding a NUL (its escape ``\\u0000`` included)."""
    finder = _FindNul()
    visit(document, finder)
    return finder.found


def has_nul(value: object) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class RefuseNulCharacters(SchemaExtension):
    """Goes after ``ValidationCache`` in the schema's extensions: it checks before the
    validation step ends, and only documents that validated."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            error = None
            found = nul_in_document(context.graphql_document)
            if found is not None:
                error = GraphQLError(
                    "Strings may not contain the NUL character (U+0000).",
                    nodes=[found],
                    extensions={"code": TopLevelCode.GRAPHQL_VALIDATION_FAILED.value},
                )
            elif has_nul(context.variables):
                error = GraphQLError(
                    "Variables may not contain the NUL character (U+0000).",
                    extensions={"code": TopLevelCode.BAD_USER_INPUT.value},
                )
            if error is not None:
                # A new list: the validation cache holds the old one for other requests.
                context.pre_execution_errors = [error]
        yield
