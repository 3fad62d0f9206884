"""The token rule of ``store.tokens`` (both databases): the SQL builder of a live token
gives what the Python function gives, token by token, at instants either side of each
revocation and expiry; authentication refuses an expired token as a revoked one; the
ended-tokens read that subscriptions use finds expired tokens as revoked ones; the
self-service limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select

from store import tokens
from store.db import Database
from store.errors import DomainError, ErrorCode
from store.ids import new_id
from store.models import AccessToken, TokenScope
from store.timeutil import utcnow
from store.types import UTCDateTime
from tests.factories import make_user

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
MICRO = timedelta(microseconds=1)

# (revoked_at, expires_at) of each token: every combination, edges a microsecond apart.
SHAPES = [
    (None, None),
    (T0, None),
    (None, T0),
    (T0, T0 + timedelta(days=1)),
    (T0 + timedelta(days=1), T0),
    (None, T0 + MICRO),
    (T0 - MICRO, None),
]
INSTANTS = [T0 - timedelta(days=2), T0 - MICRO, T0, T0 + MICRO, T0 + timedelta(days=2)]


async def test_sql_and_python_agree_on_live_tokens(db: Database) -> None:
    owner = await make_user(db, "Owner", "owner@example.test")
    async with db.write() as s:
        rows = [
            AccessToken(
                id=new_id(),
                user_id=owner.id,
                prefix=f"shape{i:07d}",
                secret_hash="0" * 64,
                revoked_at=revoked,
                expires_at=expires,
            )
            for i, (revoked, expires) in enumerate(SHAPES)
        ]
        s.add_all(rows)
        await s.commit()
    table = AccessToken.__table__  # type: ignore[attr-defined]
    compared = 0
    async with db.read() as s:
        for now in INSTANTS:
            at = bindparam("now", now, type_=UTCDateTime())
            stmt = select(table.c.prefix, tokens.is_live_sql(table, at)).where(
                table.c.prefix.like("shape%")
            )
            in_sql = {prefix: bool(live) for prefix, live in (await s.exec(stmt)).all()}
            for row in rows:
                assert in_sql[row.prefix] is tokens.is_live(row.revoked_at, row.expires_at, now), (
                    row.revoked_at,
                    row.expires_at,
                    now,
                )
                compared += 1
    assert compared == len(SHAPES) * len(INSTANTS)
    # Both outcomes occur at each edge: the comparison is not all one answer.
    assert tokens.is_live(None, T0 + MICRO, T0) and not tokens.is_live(None, T0, T0)


async def test_expired_token_is_refused_and_ends_like_a_revoked_one(db: Database) -> None:
    owner = await make_user(db, "Owner", "owner@example.test")
    now = utcnow()
    async with db.write() as s:
        soon = await tokens.issue(s, user_id=owner.id, expires_at=now + timedelta(seconds=30))
        gone = await tokens.issue(s, user_id=owner.id, expires_at=now - timedelta(seconds=1))
        revoked = await tokens.issue(s, user_id=owner.id)
        await s.commit()
    assert await tokens.authenticate_member(db, token=soon.token) is not None
    assert await tokens.authenticate_member(db, token=gone.token) is None
    async with db.write() as s:
        assert await tokens.revoke_token(s, prefix=revoked.row.prefix, at=utcnow())
        await s.commit()
    assert await tokens.authenticate_member(db, token=revoked.token) is None
    found = await tokens.authenticate_member(db, token=owner.token)
    assert found is not None and found.token.scope == TokenScope.WRITE.value
    since = now - timedelta(minutes=5)
    async with db.read() as s:
        ended = dict(await tokens.ended_since(s, since=since, now=utcnow()))
    assert set(ended) == {gone.row.prefix, revoked.row.prefix}
    assert ended[gone.row.prefix] == gone.row.expires_at
    # Once its expiry has passed, the soon-expiring token is found as well.
    async with db.read() as s:
        later = dict(await tokens.ended_since(s, since=since, now=now + timedelta(seconds=31)))
    assert set(later) == {gone.row.prefix, revoked.row.prefix, soon.row.prefix}


async def test_self_service_limits(db: Database) -> None:
    owner = await make_user(db, "Owner", "owner@example.test")
    now = utcnow()

    async def issue(**kw: object) -> tokens.Issued:
        args: dict[str, object] = {"name": "ci", "scope": "READ", "expires_at": None} | kw
        async with db.write() as s:
            issued = await tokens.issue_own(s, user_id=owner.id, now=now, **args)  # type: ignore[arg-type]
            await s.commit()
        return issued

    for bad, field in [
        ({"name": "  "}, "name"),
        ({"name": "x" * (tokens.MAX_NAME + 1)}, "name"),
        ({"expires_at": now}, "expiresAt"),
        ({"expires_at": now + tokens.MAX_LIFETIME + MICRO}, "expiresAt"),
    ]:
        with pytest.raises(DomainError) as refused:
            await issue(**bad)
        assert (refused.value.code, refused.value.field) == (ErrorCode.VALIDATION, ["input", field])
    edge = await issue(name=" edge ", expires_at=now + tokens.MAX_LIFETIME)
    assert (edge.row.name, edge.row.scope) == ("edge", "READ")
    # The factory's token and the edge one are live: fill up to the limit.
    for _ in range(tokens.MAX_LIVE_TOKENS - 2):
        await issue()
    with pytest.raises(DomainError) as full:
        await issue()
    assert full.value.code == ErrorCode.VALIDATION
    async with db.read() as s:
        assert await tokens.count_live(s, user_id=owner.id, now=now) == tokens.MAX_LIVE_TOKENS
    # A revoked token frees its place.
    async with db.write() as s:
        await tokens.revoke_own(s, user_id=owner.id, token_id=edge.row.id, at=now)
        await s.commit()
    await issue()
