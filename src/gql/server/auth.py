"""Who is asking: bearer tokens on HTTP and in ``connection_init`` on WebSockets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from store import tokens
from store.db import Database
from store.models import Membership, User


def bearer_token(value: object) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value, else None."""
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class Viewer:
    user: User
    memberships: dict[str, Membership]  # by team id
    token: tokens.Bearer


async def authenticate_token(db: Database, token: str | None) -> Viewer | None:
    """The token's user, their memberships by team id and the token, or None."""
    if token is None or tokens.parse_token(token) is None:
        return None
    found = await tokens.authenticate_member(db, token=token)
    if found is None:
        return None
    return Viewer(found.user, {m.team_id: m for m in found.members}, found.token)


async def authenticate(
    db: Database, token: str | None
) -> tuple[User, dict[str, Membership]] | None:
    """The token's user and their memberships by team id, or None: for callers that need
    only who is asking (what the token may do is ``authenticate_token``'s)."""
    found = await authenticate_token(db, token)
    return (found.user, found.memberships) if found is not None else None


def token_from_init_payload(payload: Mapping[str, object] | None) -> str | None:
    if not payload:
        return None
    for key in ("authorization", "Authorization"):
        if key in payload:
            return bearer_token(payload[key])
    return None
