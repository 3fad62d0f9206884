"""``node(id:)`` and ``nodes(ids:)``: any entity by its id, under the typed look-ups'
tenancy (a row the viewer may not see, an unknown id and a malformed one all read as
null, alike).

Each kind of ``store.nodes.TABLES`` has here the loader that reads its rows, the type
that shows them and who may see them. An id is looked up in one statement for all the
ids of a request (``Loaders.node_kinds``), then its rows through the kinds' loaders
(one statement per kind, shared with the rest of the document); the first kind, in
``TABLES`` order, whose row the viewer may see gives the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gql.schema.context import Context
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.types.entry import Comment, TimeEntry
from gql.schema.types.node import Node
from gql.schema.types.pagination import MAX_PAGE
from gql.schema.types.team import Category, Tag, Task, Team
from gql.schema.types.token import AccessToken
from gql.schema.types.user import User, shared_team_ids
from gql.schema.types.webhook import Webhook
from store.ids import parse_ulid
from store.nodes import TABLES


async def _member_of_team(ctx: Context, row: Any) -> bool:
    return ctx.is_member(row.team_id)


async def _team(ctx: Context, row: Any) -> bool:
    return ctx.is_member(row.id)


async def _user(ctx: Context, row: Any) -> bool:
    """The viewer, or someone in one of the viewer's teams (as ``User.teams`` shows)."""
    return row.id == ctx.viewer_id or bool(await shared_team_ids(ctx, row.id))


async def _own(ctx: Context, row: Any) -> bool:
    """An access token is its owner's alone, as ``User.accessTokens`` shows them."""
    return bool(row.user_id == ctx.viewer_id)


async def _admin_of_team(ctx: Context, row: Any) -> bool:
    """Webhooks are for admins and owners, as ``Team.webhooks`` shows them."""
    return ctx.is_admin(row.team_id)


@dataclass(frozen=True)
class NodeKind:
    loader: str  # the ``Loaders`` attribute that reads its rows by id
    build: Callable[[Any], Node]
    visible: Callable[[Context, Any], Awaitable[bool]]


KINDS: dict[str, NodeKind] = {
    "team": NodeKind("team", Team.from_row, _team),
    "user": NodeKind("user", User.from_row, _user),
    "category": NodeKind("category", Category.from_row, _member_of_team),
    "task": NodeKind("task", Task.from_row, _member_of_team),
    "comment": NodeKind("comment", Comment.from_row, _member_of_team),
    "webhook": NodeKind("webhook", Webhook.from_row, _admin_of_team),
    "access_token": NodeKind("access_token", AccessToken.from_row, _own),
    "tag": NodeKind("tag", Tag.from_row, _member_of_team),
    "entry": NodeKind("entry", TimeEntry.from_row, _member_of_team),
}
assert list(KINDS) == list(TABLES), "every kind of row has its node kind, in the same order"


def check_ids(ids: Sequence[Any]) -> None:
    """``nodes`` takes at most ``MAX_PAGE`` ids (admission refuses more before anything
    runs; this holds where admission did not measure)."""
    if len(ids) > MAX_PAGE:
        raise CodedError(
            TopLevelCode.QUERY_TOO_COMPLEX,
            f"`nodes` takes at most {MAX_PAGE} ids (got {len(ids)}).",
        )


async def find_nodes(ctx: Context, ids: Sequence[str]) -> list[Node | None]:
    """The entity of each id that the viewer may see, else None; in the ids' order."""
    keys = [parse_ulid(i) for i in ids]
    wanted = list(dict.fromkeys(k for k in keys if k is not None))
    kinds = dict(zip(wanted, await ctx.loaders.node_kinds.load_many(wanted), strict=True))
    by_kind: dict[str, list[str]] = {}
    for key in wanted:
        for kind in kinds[key]:
            by_kind.setdefault(kind, []).append(key)
    loaded = await asyncio.gather(
        *(getattr(ctx.loaders, KINDS[k].loader).load_many(ks) for k, ks in by_kind.items())
    )
    rows = {
        (kind, key): row
        for (kind, ks), found in zip(by_kind.items(), loaded, strict=True)
        for key, row in zip(ks, found, strict=True)
    }
    checks = {
        (kind, key): KINDS[kind].visible(ctx, row)
        for (kind, key), row in rows.items()
        if row is not None
    }
    seen = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    found_nodes: dict[str, Node] = {}
    for key in wanted:
        for kind in kinds[key]:
            if seen.get((kind, key)):
                found_nodes[key] = KINDS[kind].build(rows[kind, key])
                break
    return [found_nodes.get(k) if k is not None else None for k in keys]
