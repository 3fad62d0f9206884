"""EntryChange and FieldChange: an entry's change history (``store.history``), each field
declared once (``gql.schema.declare``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from gql.schema.context import Context
from gql.schema.declare import RowObject, column, computed, related
from gql.schema.types.enums import EntryAction

if TYPE_CHECKING:
    from gql.schema.types.user import User

UserT = Annotated["User", strawberry.lazy("gql.schema.types.user")]


@strawberry.type(
    description="One changed field of an entry: its GraphQL name (`externalRef.provider` "
    "for a part of `externalRef`) and its values before and after, as the API shows them: "
    "instants ISO-8601 UTC, dates YYYY-MM-DD, integers in decimal, booleans `true`/`false`, "
    "enums by name; null for no value (every `from` of a CREATED change)."
)
class FieldChange:
    field: str
    from_: str | None = strawberry.field(name="from")
    to: str | None


def _user(_o: Any, _ctx: Context, row: Any) -> Any:
    if row is None:
        return None
    from gql.schema.types.user import User

    return User(row=row)


def _changes(c: Any, _ctx: Context) -> list[FieldChange]:
    return [FieldChange(field=f["field"], from_=f["from"], to=f["to"]) for f in c.row.changes]


@strawberry.type(description="A committed change of a time entry (`TimeEntry.history`).")
class EntryChange(RowObject):
    row: strawberry.Private[Any]
    at: datetime = column("at", description="The instant of the write.")
    action: EntryAction = column("action")
    user: UserT | None = related(
        "user",
        _user,
        key="user_id",
        description="Who made the change; null for the server itself (an AUTO_STOPPED "
        "sweep at the team's timer limit).",
    )
    changes: list[FieldChange] = computed(
        _changes, reads=("changes",), description="The fields it changed, in a fixed order."
    )
