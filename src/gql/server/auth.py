"""Who is asking: bearer tokens on HTTP and in ``connection_init`` on WebSockets."""

from __future__ import annotations

from collections.abc import Mapping

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


async def authenticate(
    db: Database, token: str | None
) -> tuple[User, dict[str, Membership]] | None:
    """The token's user and their memberships by team id, or None."""
    if token is None or tokens.parse_token(token) is None:
        return None
    found = await tokens.authenticate_member(db, token=token)
    if found is None:
        return None
    user, members = found
    return user, {m.team_id: m for m in members}


def token_from_init_payload(payload: Mapping[str, object] | None) -> str | None:
    if not payload:
        return None
    for key in ("authorization", "Authorization"):
        if key in payload:
            return bearer_token(payload[key])
    return None
