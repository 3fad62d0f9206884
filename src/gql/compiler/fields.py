"""What the compiled path knows how to answer: per GraphQL type, the fields read straight
from a joined row, and how each value is serialized exactly as the standard path does.

Anything not listed here (``User.email``, ``Team.members``, ``Category.parent``, nested
connections...) is not plannable: documents selecting it take the standard path. Fields
whose answer depends on the viewer are left out on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from gql.schema.scalars import serialize_datetime

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Fallback(Exception):
    """The compiled path cannot answer exactly as the standard path would: use that one."""


Convert = Callable[[Any], Any]


def same(value: Any) -> Any:
    return value


def int32(value: Any) -> Any:
    # GraphQL's Int is 32 bits: outside it the standard path answers with an error.
    if value is not None and not INT_MIN <= value <= INT_MAX:
        raise Fallback
    return value


def instant(value: datetime | None) -> str | None:
    return None if value is None else serialize_datetime(value)


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


# GraphQL field -> (column, conversion). Enums are stored by their GraphQL names, IDs and
# strings as they are, so those pass unchanged.
COLUMNS: dict[str, dict[str, tuple[str, Convert]]] = {
    "TimeEntry": {
        "id": ("id", same),
        "scopeType": ("scope_type", same),
        "startedAt": ("started_at", instant),
        "stoppedAt": ("stopped_at", instant),
        "workDate": ("work_date", day),
        "description": ("description", same),
        "billable": ("billable", same),
        "rateSnapshotCents": ("rate_snapshot_cents", int32),
        "status": ("status", same),
        "inputType": ("input_type", same),
        "source": ("source", same),
        "lockedAt": ("locked_at", instant),
        "deletedAt": ("deleted_at", instant),
        "createdAt": ("created_at", instant),
        "updatedAt": ("updated_at", instant),
        "version": ("version", int32),
        "autoStopped": ("auto_stopped", same),
    },
    "User": {
        "id": ("id", same),
        "nickname": ("nickname", same),
        "timeZone": ("time_zone", same),
        "locale": ("locale", same),
    },
    "Team": {
        "id": ("id", same),
        "name": ("name", same),
        "timeZone": ("time_zone", same),
        "weekStart": ("week_start", int32),
        "rounding": ("rounding", same),
        "roundingMinutes": ("rounding_minutes", int32),
        "defaultBillable": ("default_billable", same),
        "defaultRateCents": ("default_rate_cents", int32),
        "tasksReadonly": ("tasks_readonly", same),
        "lockedBefore": ("locked_before", instant),
    },
    "Task": {
        "id": ("id", same),
        "key": ("key", same),
        "title": ("title", same),
        "url": ("url", same),
        "state": ("state", same),
        "description": ("description", same),
    },
    "Category": {
        "id": ("id", same),
        "key": ("key", same),
        "title": ("title", same),
        "color": ("color", int32),
        "position": ("position", int32),
        "archived": ("archived", same),
        "billable": ("billable", same),
        "rateCents": ("rate_cents", int32),
    },
}

# Object fields of a TimeEntry and of a Task that the joined row carries:
# (type, field) -> (relation in ``store.entry_pages``, nullable).
RELATIONS: dict[tuple[str, str], tuple[str, bool]] = {
    ("TimeEntry", "team"): ("team", False),
    ("TimeEntry", "user"): ("user", False),
    ("TimeEntry", "task"): ("task", True),
    ("TimeEntry", "category"): ("category", True),
    ("Task", "category"): ("task_category", True),
}
