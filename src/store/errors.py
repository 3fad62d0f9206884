"""Domain errors. Each carries a code from :class:`ErrorCode` and the input path it concerns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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
    # Added by the overlap policy (issue 20): the write overlaps the user's own entries.
    OVERLAP = "OVERLAP"
    # Added by tags (issue 20): an archived tag takes no new entries.
    TAG_ARCHIVED = "TAG_ARCHIVED"


class DomainError(Exception):
    """A refusal the client can act on; it becomes a ``userErrors`` item."""

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field)


@dataclass(frozen=True, slots=True)
class DomainWarning:
    """Something the client should know about a write that succeeded (a ``warnings`` item):
    a code of :class:`ErrorCode`, as the refusal of the same finding under a stricter
    setting would carry, the input path, and the entry it concerns."""

    code: ErrorCode
    message: str
    field: tuple[str, ...]
    entry_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored form (an idempotency record's result, answered again on replays)."""
        return {
            "code": self.code.value,
            "message": self.message,
            "field": list(self.field),
            "entryId": self.entry_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DomainWarning:
        return cls(ErrorCode(data["code"]), data["message"], tuple(data["field"]), data["entryId"])


class DomainErrors(Exception):
    """Several refusals at once (e.g. one per entry of a batch transition)."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)


class Retry(Exception):
    """The rows a command read changed under it before it could lock them: run the whole
    transaction again (``gql.schema.mutations.runner`` does, a bounded number of times)."""
