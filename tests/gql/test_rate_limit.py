"""Rate limiting: points per sliding window per token (per address without a valid
token), RATE_LIMITED with 429 and Retry-After; shared by instances through Redis."""

from __future__ import annotations

import httpx
import pytest

from gql.guard.ratelimit import RateLimiter
from store.db import Database
from store.ids import new_id
from tests.factories import make_team
from tests.services import REDIS_URL, require

VIEWER = "{ viewer { id } }"


def test_limiter_admits_up_to_the_points_per_client() -> None:
    limiter = RateLimiter(10, 60)
    assert limiter.charge("a", 6).allowed
    full = limiter.charge("a", 4)
    assert full.allowed and full.remaining == 0
    refused = limiter.charge("a", 3)
    assert not refused.allowed and 1 <= refused.retry_after <= 60
    assert limiter.charge("b", 10).allowed  # every client has a limit of its own
    assert not limiter.charge("c", 11).allowed  # can never fit: still a clear refusal


def test_limiters_sharing_redis_count_together() -> None:
    require(REDIS_URL, "redis")
    prefix = "test-" + new_id()
    one = RateLimiter(5, 60, redis_url=REDIS_URL, key_prefix=prefix)
    two = RateLimiter(5, 60, redis_url=REDIS_URL, key_prefix=prefix)
    admitted = [limiter.charge("token:x", 1).allowed for limiter in (one, two) * 4]
    assert admitted == [True] * 5 + [False] * 3
    alone = RateLimiter(5, 60, redis_url=REDIS_URL, key_prefix=prefix + "-other")
    assert alone.charge("token:x", 5).allowed  # another prefix: another deployment


def test_an_unreachable_redis_admits() -> None:
    limiter = RateLimiter(1, 60, redis_url="redis://127.0.0.1:9/0")
    assert all(limiter.charge("a", 1).allowed for _ in range(3))


async def test_rate_limited_is_429_with_retry_after(db: Database, make_client: object) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client: httpx.AsyncClient = await make_client(  # type: ignore[operator]
        rate_limit_enabled=True, rate_limit_points=3, rate_limit_window_seconds=6
    )
    headers = {"authorization": f"Bearer {world.owner.token}"}
    for remaining in (2, 1, 0):
        body = (await client.post("/graphql", json={"query": VIEWER}, headers=headers)).json()
        assert body["data"] == {"viewer": {"id": world.owner.id}}
        assert body["extensions"]["cost"]["throttleStatus"] == {
            "maximumAvailable": 3,
            "currentlyAvailable": remaining,
            "restoreRate": 0.5,
        }
    for accept in ("application/json", "application/graphql-response+json"):
        response = await client.post(
            "/graphql", json={"query": VIEWER}, headers={**headers, "accept": accept}
        )
        body = response.json()
        assert response.status_code == 429, body
        retry_after = body["errors"][0]["extensions"]["retryAfter"]
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert 1 <= retry_after <= 6
        assert response.headers["retry-after"] == str(retry_after)
    # Another token has its own limit.
    other = {"authorization": f"Bearer {world.member.token}"}
    body = (await client.post("/graphql", json={"query": VIEWER}, headers=other)).json()
    assert body["data"] == {"viewer": {"id": world.member.id}}


@pytest.mark.parametrize("token", [None, "pc_madeupprefix_" + "x" * 32])
async def test_requests_without_a_valid_token_are_limited_by_address(
    db: Database, make_client: object, token: str | None
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client: httpx.AsyncClient = await make_client(  # type: ignore[operator]
        rate_limit_enabled=True, rate_limit_points=2, rate_limit_window_seconds=60
    )
    headers = {"authorization": f"Bearer {token}"} if token else {}
    codes = []
    for _ in range(3):
        response = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
        codes.append((response.status_code, response.json()["errors"][0]["extensions"]["code"]))
    assert codes == [(200, "UNAUTHENTICATED")] * 2 + [(429, "RATE_LIMITED")]
    # A signed-in client from the same address pays from its token's limit.
    signed_in = {"authorization": f"Bearer {world.owner.token}"}
    body = (await client.post("/graphql", json={"query": VIEWER}, headers=signed_in)).json()
    assert body["data"] == {"viewer": {"id": world.owner.id}}


async def test_rate_limiting_is_off_by_default(db: Database, make_client: object) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client: httpx.AsyncClient = await make_client()  # type: ignore[operator]
    headers = {"authorization": f"Bearer {world.owner.token}"}
    for _ in range(30):
        body = (await client.post("/graphql", json={"query": VIEWER}, headers=headers)).json()
        assert "errors" not in body
        assert "throttleStatus" not in body["extensions"]["cost"]
    for _ in range(30):  # nor anonymous requests
        body = (await client.post("/graphql", json={"query": VIEWER})).json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_write_the_compiled_path_hands_back_is_charged_once(
    db: Database, make_client: object
) -> None:
    from tests.gql.mutation_helpers import LOG

    world = await make_team(db, "Acme", prefix="a")
    client: httpx.AsyncClient = await make_client(  # type: ignore[operator]
        rate_limit_enabled=True, rate_limit_points=1000, rate_limit_window_seconds=3600
    )
    headers = {"authorization": f"Bearer {world.owner.token}"}
    entry = {
        "teamId": world.id,
        "taskId": world.tasks["T-1"],
        "workDate": "2026-11-20",
        "minutes": 30,
        "idempotencyKey": "charged-once",
    }
    available = []
    for _ in range(2):  # the repeat meets the stored key: the compiled path hands it back
        body = (
            await client.post(
                "/graphql", json={"query": LOG, "variables": {"input": entry}}, headers=headers
            )
        ).json()
        assert body["data"]["logTimeEntry"]["userErrors"] == [], body
        cost = body["extensions"]["cost"]
        available.append(cost["throttleStatus"]["currentlyAvailable"])
    assert body["data"]["logTimeEntry"]["replayed"] is True
    assert available == [1000 - cost["requestedQueryCost"], 1000 - 2 * cost["requestedQueryCost"]]
