"""A personal access token as its owner sees it: never its secret, nor the secret's hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from gql.schema.context import Context
from gql.schema.declare import RowObject, column, computed
from gql.schema.types.enums import TokenScope
from gql.schema.types.node import Node


def _current(token: Any, ctx: Context) -> bool:
    return ctx.bearer is not None and ctx.bearer.id == token.row.id


def _prefix(token: Any, _ctx: Context) -> str:
    return f"pc_{token.row.prefix}"


@strawberry.type(
    description="A personal access token of the viewer (README: Tokens). Its secret is "
    "shown once, by `createAccessToken`."
)
class AccessToken(RowObject, Node):
    row: strawberry.Private[Any]
    id: strawberry.ID = column("id")
    name: str = column("name")
    prefix: str = computed(
        _prefix,
        reads=("prefix",),
        description="The token's public part, `pc_<12 characters>`: how logs and the CLI name it.",
    )
    scope: TokenScope = column("scope")
    created_at: datetime = column("created_at")
    expires_at: datetime | None = column(
        "expires_at", description="Refused from this instant on (null: never expires)."
    )
    revoked_at: datetime | None = column("revoked_at")
    current: bool = computed(
        _current, reads=("id",), description="Whether this request authenticated with it."
    )
