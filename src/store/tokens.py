"""Personal access tokens: ``pc_<prefix12>_<secret32>``; only a hash of the secret is kept."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.ids import new_id
from store.models import AccessToken, Membership, User

_ALPHABET = string.ascii_letters + string.digits
_TOKEN_RE = re.compile(r"^pc_([A-Za-z0-9]{12})_([A-Za-z0-9]{32})$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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


async def authenticate(session: AsyncSession, *, token: str) -> User | None:
    """The user a valid, unrevoked token belongs to, else None."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    row = (
        await session.exec(
            select(AccessToken, User)
            .join(User, User.id == AccessToken.user_id)  # type: ignore[arg-type]
            .where(AccessToken.prefix == prefix)
        )
    ).first()
    if row is None:
        return None
    stored, user = row
    if not hmac.compare_digest(stored.secret_hash, _hash(secret)) or stored.revoked_at is not None:
        return None
    return user


# Built once, the prefix bound per call: every request runs it.
_TOKEN_MEMBER = (
    select(AccessToken, User, Membership)
    .join(User, User.id == AccessToken.user_id)  # type: ignore[arg-type]
    .outerjoin(Membership, Membership.user_id == User.id)  # type: ignore[arg-type]
    .where(AccessToken.prefix == bindparam("prefix"))
)


async def authenticate_member(
    session: AsyncSession, *, token: str
) -> tuple[User, list[Membership]] | None:
    """``authenticate`` and the user's memberships, in one statement (every request runs it)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    rows = (await session.exec(_TOKEN_MEMBER, params={"prefix": prefix})).all()
    if not rows:
        return None
    stored, user, _ = rows[0]
    if not hmac.compare_digest(stored.secret_hash, _hash(secret)) or stored.revoked_at is not None:
        return None
    return user, [m for _, _, m in rows if m is not None]


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
