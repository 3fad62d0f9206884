"""Domain errors. Each carries a code from :class:`ErrorCode` and the input path it concerns."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    TIMER_NOT_RUNNING = "TIMER_NOT_RUNNING"
    ENTRY_LOCKED = "ENTRY_LOCKED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    TASKS_READONLY = "TASKS_READONLY"
    CATEGORY_ARCHIVED = "CATEGORY_ARCHIVED"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    # Added by the team lifecycle (issue 21); the contract's list only grows.
    TASK_ARCHIVED = "TASK_ARCHIVED"
    TEAM_ARCHIVED = "TEAM_ARCHIVED"
    LAST_OWNER = "LAST_OWNER"
    NOT_DELETED = "NOT_DELETED"
    # Added by tags (issue 20): an archived tag takes no new entries.
    TAG_ARCHIVED = "TAG_ARCHIVED"


class DomainError(Exception):
    """A refusal the client can act on; it becomes a ``userErrors`` item."""

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field)


class DomainErrors(Exception):
    """Several refusals at once (e.g. one per entry of a batch transition)."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)


class Retry(Exception):
    """The rows a command read changed under it before it could lock them: run the whole
    transaction again (``gql.schema.mutations.runner`` does, a bounded number of times)."""
