"""Personal access tokens: ``pc_<prefix12>_<secret32>``; only a hash of the secret is kept."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import string
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import Database
from store.direct import Statement, compile_statement, fetch
from store.ids import new_id
from store.models import AccessToken, Membership, User

_ALPHABET = string.ascii_letters + string.digits
_TOKEN_RE = re.compile(r"^pc_([A-Za-z0-9]{12})_([A-Za-z0-9]{32})$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_valid(stored_hash: str, revoked_at: datetime | None, secret: str) -> bool:
    """The token check, for every path that authenticates: ``secret`` is the one whose
    hash was stored (compared in constant time) and the token is not revoked."""
    return hmac.compare_digest(stored_hash, _hash(secret)) and revoked_at is None


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def parse_token(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, else None."""
    match = _TOKEN_RE.match(token)
    return (match.group(1), match.group(2)) if match else None


async def create_token(session: AsyncSession, *, user_id: str, name: str = "") -> str:
    """Store a new token for ``user_id`` and return it in full; it cannot be read again."""
    prefix, secret = _random(12), _random(32)
    session.add(
        AccessToken(
            id=new_id(), user_id=user_id, prefix=prefix, secret_hash=_hash(secret), name=name
        )
    )
    await session.flush()
    return f"pc_{prefix}_{secret}"


def _labelled(table: Any, prefix: str) -> list[Any]:
    return [c.label(f"{prefix}__{c.name}") for c in table.columns]


@functools.lru_cache(maxsize=4)
def _token_member(dialect: Dialect) -> Statement:
    """The token, its user and the user's memberships (one row each), by prefix."""
    tokens, users = AccessToken.__table__, User.__table__  # type: ignore[attr-defined]
    members = Membership.__table__  # type: ignore[attr-defined]
    stmt = (
        select(
            tokens.c.secret_hash.label("token__secret_hash"),
            tokens.c.revoked_at.label("token__revoked_at"),
            *_labelled(users, "user"),
            *_labelled(members, "member"),
        )
        .select_from(
            tokens.join(users, users.c.id == tokens.c.user_id).outerjoin(
                members, members.c.user_id == users.c.id
            )
        )
        .where(tokens.c.prefix == bindparam("prefix"))
    )
    return compile_statement(stmt, dialect)


async def authenticate_member(db: Database, *, token: str) -> tuple[User, list[Membership]] | None:
    """The user a valid, unrevoked token belongs to, and their memberships, in one
    statement (every request runs it), run on the driver (``store.direct``). The rows are
    built with ``model_construct`` from the loaded values, as the ORM would load them (its
    ``__init__`` alone cost more than the statement)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    statement = _token_member(db.engine.sync_engine.dialect)
    rows = await fetch(db, statement, {"prefix": prefix})
    if not rows:
        return None
    first = rows[0]
    stored_hash, revoked_at = first["token__secret_hash"], first["token__revoked_at"]
    if not is_valid(stored_hash, revoked_at, secret):
        return None
    user = User.model_construct(**statement.part(first, "user"))
    members = [
        Membership.model_construct(**statement.part(row, "member"))
        for row in rows
        if row["member__team_id"] is not None
    ]
    return user, members


async def revoke_token(session: AsyncSession, *, prefix: str, at: datetime) -> bool:
    stored = (await session.exec(select(AccessToken).where(AccessToken.prefix == prefix))).first()
    if stored is None or stored.revoked_at is not None:
        return False
    stored.revoked_at = at
    session.add(stored)
    await session.flush()
    return True


async def revoked_since(session: AsyncSession, *, since: datetime) -> list[tuple[str, datetime]]:
    """(prefix, revoked_at) of every token revoked at or after ``since``."""
    rows = await session.exec(
        select(AccessToken.prefix, AccessToken.revoked_at).where(
            AccessToken.revoked_at >= since  # type: ignore[operator]
        )
    )
    return [(prefix, at) for prefix, at in rows.all() if at is not None]
