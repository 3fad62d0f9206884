"""Personal access tokens: ``pc_<prefix12>_<secret32>``; only a hash of the secret is kept.

A token is *live* until it is revoked or its ``expires_at`` passes: one rule, written once
for Python (:func:`is_live`, which every authentication calls through :func:`is_valid`)
and once as a SQL expression (:func:`is_live_sql`, for the statements that select tokens
by it: the live tokens of a user, the tokens that ended since a subscriber last looked),
the two tested against each other on both databases (``tests/store/test_tokens.py``).
A READ token may run queries and subscriptions only (:func:`may_write`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Dialect, and_, bindparam, case, func, not_, or_
from sqlalchemy.sql.selectable import FromClause
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, rules
from store.db import Database
from store.direct import Statement, compile_statement, fetch
from store.errors import DomainError, ErrorCode
from store.ids import new_id
from store.models import AccessToken, Membership, TokenScope, User
from store.timeutil import utcnow_precise
from store.types import UTCDateTime

_ALPHABET = string.ascii_letters + string.digits
_TOKEN_RE = re.compile(r"^pc_([A-Za-z0-9]{12})_([A-Za-z0-9]{32})$")

# Self-service limits (``issue_token``); the operators' CLI is not held to them.
MAX_NAME: Final = 200
MAX_LIFETIME: Final = timedelta(days=366)
MAX_LIVE_TOKENS: Final = 50


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- the rule: live tokens ---------------------------------------------------------------


def is_live(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> bool:
    """Not revoked, and not expired at ``now`` (a token is refused from ``expires_at`` on;
    callers pass the precise clock, ``utcnow_precise``, as an expiry has microseconds)."""
    return revoked_at is None and (expires_at is None or expires_at > now)


def is_live_sql(tokens: FromClause, now: Any) -> ColumnElement[bool]:
    """:func:`is_live` of each row of ``tokens`` at ``now`` (a value or a bind parameter)."""
    return and_(
        tokens.c.revoked_at.is_(None),
        or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
    )


def ended_at_sql(tokens: FromClause) -> ColumnElement[datetime]:
    """When a token that is not live ended: its revocation, else its expiry."""
    return case((tokens.c.revoked_at.is_not(None), tokens.c.revoked_at), else_=tokens.c.expires_at)


def is_valid(
    stored_hash: str,
    revoked_at: datetime | None,
    expires_at: datetime | None,
    secret: str,
    now: datetime,
) -> bool:
    """The token check, for every path that authenticates: ``secret`` is the one whose
    hash was stored (compared in constant time) and the token is live at ``now``."""
    return hmac.compare_digest(stored_hash, _hash(secret)) and is_live(revoked_at, expires_at, now)


def may_write(scope: str | None) -> bool:
    """Whether a token of ``scope`` may run mutations (None: no token, nothing to refuse
    here; authentication refuses it)."""
    return scope != TokenScope.READ.value


# --- issuing ------------------------------------------------------------------------------


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def parse_token(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, else None."""
    match = _TOKEN_RE.match(token)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True)
class Issued:
    row: AccessToken
    token: str  # the whole token, shown once


async def issue(
    session: AsyncSession,
    *,
    user_id: str,
    name: str = "",
    scope: str = TokenScope.WRITE.value,
    expires_at: datetime | None = None,
) -> Issued:
    """Store a new token for ``user_id``; the whole token cannot be read again."""
    prefix, secret = _random(12), _random(32)
    row = AccessToken(
        id=new_id(),
        user_id=user_id,
        prefix=prefix,
        secret_hash=_hash(secret),
        name=name,
        scope=scope,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return Issued(row, f"pc_{prefix}_{secret}")


async def create_token(
    session: AsyncSession,
    *,
    user_id: str,
    name: str = "",
    scope: str = TokenScope.WRITE.value,
    expires_at: datetime | None = None,
) -> str:
    """Store a new token for ``user_id`` and return it in full (the operators' way: the
    CLI and the demo data)."""
    issued = await issue(session, user_id=user_id, name=name, scope=scope, expires_at=expires_at)
    return issued.token


def check_expiry(
    expires_at: datetime | None,
    *,
    now: datetime,
    field: rules.Field,
    maximum: timedelta | None = MAX_LIFETIME,
) -> None:
    """An expiry lies in the future, and at most ``maximum`` ahead (None: no bound)."""
    if expires_at is None:
        return
    if expires_at <= now:
        raise DomainError(ErrorCode.VALIDATION, "expiresAt must lie in the future.", field)
    if maximum is not None and expires_at > now + maximum:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"expiresAt may lie at most {maximum.days} days ahead.",
            field,
        )


async def count_live(session: AsyncSession, *, user_id: str, now: datetime) -> int:
    tokens = AccessToken.__table__  # type: ignore[attr-defined]
    stmt = (
        select(func.count())
        .select_from(tokens)
        .where(tokens.c.user_id == user_id, is_live_sql(tokens, now))
    )
    return int((await session.exec(stmt)).one())


async def issue_own(
    session: AsyncSession,
    *,
    user_id: str,
    name: str | None,
    scope: str,
    expires_at: datetime | None,
    now: datetime,
) -> Issued:
    """A token the user makes for themselves (``createAccessToken``): a name of 1 to
    ``MAX_NAME`` characters, an expiry at most ``MAX_LIFETIME`` ahead, and at most
    ``MAX_LIVE_TOKENS`` live tokens per user (the user row is locked first, store.locks
    step 3, so concurrent creates count one after the other)."""
    cleaned = rules.clean_text(name, ("input", "name"), limit=MAX_NAME, required=True)
    assert cleaned is not None
    check_expiry(expires_at, now=now, field=("input", "expiresAt"))
    await locks.users(session, [user_id])
    if await count_live(session, user_id=user_id, now=now) >= MAX_LIVE_TOKENS:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"At most {MAX_LIVE_TOKENS} live tokens per user: revoke one first.",
            ("input", "name"),
        )
    return await issue(
        session, user_id=user_id, name=cleaned.strip(), scope=scope, expires_at=expires_at
    )


# --- reading ------------------------------------------------------------------------------


async def tokens_of(session: AsyncSession, *, user_id: str) -> list[AccessToken]:
    """Every token of the user, newest first."""
    stmt = (
        select(AccessToken)
        .where(AccessToken.user_id == user_id)
        .order_by(col(AccessToken.created_at).desc(), col(AccessToken.id).desc())
    )
    return list((await session.exec(stmt)).all())


def _labelled(table: Any, prefix: str) -> list[Any]:
    return [c.label(f"{prefix}__{c.name}") for c in table.columns]


@functools.lru_cache(maxsize=4)
def _token_member(dialect: Dialect) -> Statement:
    """The token, its user and the user's memberships (one row each), by prefix."""
    tokens, users = AccessToken.__table__, User.__table__  # type: ignore[attr-defined]
    members = Membership.__table__  # type: ignore[attr-defined]
    stmt = (
        select(
            *_labelled(tokens, "token"),
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


@dataclass(frozen=True)
class Bearer:
    """The token a request authenticated with (what the request may do, and which of the
    user's tokens it is)."""

    id: str
    prefix: str
    scope: str


@dataclass(frozen=True)
class Authenticated:
    user: User
    members: list[Membership]
    token: Bearer


def check_row(row: dict[str, Any], secret: str, now: datetime) -> bool:
    """:func:`is_valid` of a statement's row whose token columns are labelled ``token__``."""
    return is_valid(
        row["token__secret_hash"],
        row["token__revoked_at"],
        row["token__expires_at"],
        secret,
        now,
    )


async def authenticate_member(db: Database, *, token: str) -> Authenticated | None:
    """The user a valid, live token belongs to, their memberships and the token, in one
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
    if not check_row(first, secret, utcnow_precise()):
        return None
    user = User.model_construct(**statement.part(first, "user"))
    members = [
        Membership.model_construct(**statement.part(row, "member"))
        for row in rows
        if row["member__team_id"] is not None
    ]
    bearer = Bearer(first["token__id"], first["token__prefix"], first["token__scope"])
    return Authenticated(user, members, bearer)


# --- revoking -----------------------------------------------------------------------------


async def revoke_token(session: AsyncSession, *, prefix: str, at: datetime) -> bool:
    stored = (await session.exec(select(AccessToken).where(AccessToken.prefix == prefix))).first()
    if stored is None or stored.revoked_at is not None:
        return False
    stored.revoked_at = at
    session.add(stored)
    await session.flush()
    return True


async def revoke_own(
    session: AsyncSession, *, user_id: str, token_id: str, at: datetime
) -> AccessToken:
    """Revoke one of the user's own tokens (another user's reads as no such token). A
    token revoked already stays as it was: the revocation is done."""
    stored = (
        await session.exec(
            select(AccessToken)
            .where(AccessToken.id == token_id, AccessToken.user_id == user_id)
            .with_for_update()
        )
    ).first()
    if stored is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such token.", ("input", "id"))
    if stored.revoked_at is None:
        stored.revoked_at = at
        session.add(stored)
        await session.flush()
    return stored


async def ended_since(
    session: AsyncSession, *, since: datetime, now: datetime
) -> list[tuple[str, datetime]]:
    """(prefix, end) of every token that is not live at ``now`` and ended (was revoked,
    or expired) at or after ``since``."""
    tokens = AccessToken.__table__  # type: ignore[attr-defined]
    ended = ended_at_sql(tokens)
    at = bindparam("now", now, type_=UTCDateTime())
    stmt = select(tokens.c.prefix, ended).where(
        not_(is_live_sql(tokens, at)), ended >= bindparam("since", since, type_=UTCDateTime())
    )
    rows = await session.exec(stmt)
    return [(prefix, end) for prefix, end in rows.all() if end is not None]
