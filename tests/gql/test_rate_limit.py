"""Rate limiting: a leaky bucket of points per token, RATE_LIMITED with 429 and Retry-After."""

from __future__ import annotations

import httpx

from gql.ratelimit import LeakyBucket
from store.db import Database
from tests.factories import make_team

VIEWER = "{ viewer { id } }"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_admits_up_to_capacity_then_leaks() -> None:
    clock = Clock()
    bucket = LeakyBucket(capacity=10, rate=2.0, clock=clock)
    assert bucket.charge("a", 6).allowed
    assert bucket.charge("a", 4).remaining == 0
    refused = bucket.charge("a", 3)
    assert not refused.allowed and refused.retry_after == 2  # 3 points at 2 a second
    assert bucket.charge("b", 10).allowed  # every client has a bucket of its own
    clock.now = 1.5  # 3 points leaked
    assert bucket.charge("a", 3).allowed
    assert not bucket.charge("a", 1).allowed
    assert not bucket.charge("a", 11).allowed  # can never fit: still a clear refusal


async def test_rate_limited_is_429_with_retry_after(db: Database, make_client: object) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client: httpx.AsyncClient = await make_client(  # type: ignore[operator]
        rate_limit_enabled=True, rate_limit_points=3, rate_limit_per_second=0.5
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
        assert response.headers["retry-after"] == "2"
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert body["errors"][0]["extensions"]["retryAfter"] == 2
    # Another token has its own bucket.
    other = {"authorization": f"Bearer {world.member.token}"}
    body = (await client.post("/graphql", json={"query": VIEWER}, headers=other)).json()
    assert body["data"] == {"viewer": {"id": world.member.id}}


async def test_rate_limiting_is_off_by_default(db: Database, make_client: object) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client: httpx.AsyncClient = await make_client()  # type: ignore[operator]
    headers = {"authorization": f"Bearer {world.owner.token}"}
    for _ in range(30):
        body = (await client.post("/graphql", json={"query": VIEWER}, headers=headers)).json()
        assert "errors" not in body
        assert "throttleStatus" not in body["extensions"]["cost"]
