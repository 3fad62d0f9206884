"""Error codes, the ``UserError`` payload item, and masking of unexpected failures."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from enum import StrEnum

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import MaskErrors

from store.errors import DomainError, DomainWarning
from store.errors import ErrorCode as StoreErrorCode

log = logging.getLogger("punchclock.errors")

strawberry.enum(StoreErrorCode, name="ErrorCode", description="Codes of `userErrors`.")
ErrorCode = StoreErrorCode


class TopLevelCode(StrEnum):
    """``extensions.code`` of top-level GraphQL errors."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"  # a READ token asking for a mutation
    BAD_REQUEST = "BAD_REQUEST"
    INTERNAL = "INTERNAL"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    UNAVAILABLE = "UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    VALIDATION = "VALIDATION"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    SUBSCRIBER_TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"


@strawberry.type(description="A refusal the client can act on.")
class UserError:
    code: StoreErrorCode
    field: list[str] = strawberry.field(description='Input path, e.g. ["input", "duration"].')
    message: str

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(code=error.code, field=list(error.field), message=error.message)


@strawberry.type(
    name="Warning",
    description="Something to know about a write that succeeded: the code a refusal of the "
    "same finding would carry (e.g. OVERLAP under a team's WARN overlap policy).",
)
class PayloadWarning:
    code: StoreErrorCode
    field: list[str] = strawberry.field(description='Input path, e.g. ["input", "startedAt"].')
    message: str
    time_entry_id: strawberry.ID | None = strawberry.field(
        description="The entry the warning is about (for OVERLAP: the overlapping entry)."
    )

    @classmethod
    def from_domain(cls, warning: DomainWarning) -> PayloadWarning:
        entry_id = warning.entry_id
        return cls(
            code=warning.code,
            field=list(warning.field),
            message=warning.message,
            time_entry_id=strawberry.ID(entry_id) if entry_id is not None else None,
        )


def payload_warnings(stored: list[dict[str, object]] | None) -> list[PayloadWarning]:
    """The warnings of an outcome's result (as stored for replays: ``DomainWarning.as_json``)."""
    return [PayloadWarning.from_domain(DomainWarning.from_json(w)) for w in stored or []]


class CodedError(GraphQLError):
    """A top-level error that reaches the client as it is, with ``extensions.code``."""

    def __init__(self, code: TopLevelCode, message: str) -> None:
        super().__init__(message, extensions={"code": code.value})
        self.code = code


class DatabaseUnavailable(Exception):
    """The database could not be reached outside GraphQL execution (no error to mask)."""


def user_errors(errors: Sequence[DomainError]) -> list[UserError]:
    return [UserError.from_domain(e) for e in errors]


# PostgreSQL: connection exceptions, shutting down / starting up, too many connections.
# asyncpg raises these (e.g. "connection was closed in the middle of operation") under
# SQLAlchemy's generic DBAPIError, not OperationalError.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# asyncpg's InterfaceError when a connection is still busy with a statement that a lost
# server cut off (seen while PostgreSQL restarts): a connection to throw away, not a bug
# of the request. It comes unwrapped when it is raised while the pool resets it.
_UNAVAILABLE_MESSAGES = ("another operation is in progress", "connection is closed")


def is_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is the database being out of reach."""
    while exc is not None:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, PoolTimeout):  # every pooled connection busy for the whole wait
            return True
        if str(getattr(exc, "sqlstate", "")).startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if type(exc).__name__ == "InterfaceError" and any(
            message in str(exc) for message in _UNAVAILABLE_MESSAGES
        ):
            return True
        if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, OSError)):
            if isinstance(exc, DBAPIError) and "locked" in str(exc):
                return False
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class MaskInternalErrors(MaskErrors):
    """Let coded and GraphQL validation errors through; replace everything else.

    An unexpected exception becomes ``INTERNAL`` with a generic message (no stack, SQL
    or path leaks) and is logged in full; a lost database becomes ``UNAVAILABLE``.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._should_mask)

    def on_validate(self) -> Iterator[None]:
        yield
        # Every validation error is the client's to fix, including a literal that a
        # scalar refuses (`before: ""`): graphql-core keeps the scalar's ValueError as
        # the original error, which would otherwise be masked as INTERNAL.
        for error in self.execution_context.pre_execution_errors or []:
            if not (error.extensions or {}).get("code"):
                code = TopLevelCode.GRAPHQL_VALIDATION_FAILED.value
                error.extensions = {**(error.extensions or {}), "code": code}

    @staticmethod
    def _should_mask(error: GraphQLError) -> bool:
        original = error.original_error
        if isinstance(original, CodedError):
            return False
        if (error.extensions or {}).get("code") == TopLevelCode.GRAPHQL_VALIDATION_FAILED.value:
            return False
        if original is None or isinstance(original, GraphQLError):
            # Syntax and validation errors (no original), or variables that do not coerce
            # (a GraphQLError wrapping the scalar's message): the client's to fix.
            if not (error.extensions or {}).get("code"):
                if original:
                    code = TopLevelCode.BAD_USER_INPUT
                elif error.message.endswith("tokens. Parsing aborted."):
                    code = TopLevelCode.QUERY_TOO_COMPLEX  # graphql-core's max_tokens
                else:
                    code = TopLevelCode.GRAPHQL_VALIDATION_FAILED
                error.extensions = {**(error.extensions or {}), "code": code.value}
            return False
        return True

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", None)
        if is_unavailable(error.original_error):
            code, message = TopLevelCode.UNAVAILABLE, "The database is unavailable; retry later."
            log.warning("database unavailable: %r", error.original_error)
        else:
            code, message = TopLevelCode.INTERNAL, "Internal error."
            log.error(
                "unexpected error (request %s) at %s",
                request_id,
                error.path,
                exc_info=error.original_error,
            )
        extensions: dict[str, object] = {"code": code.value}
        if request_id:
            extensions["requestId"] = request_id
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions=extensions,
        )
