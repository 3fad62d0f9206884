"""The compose topology without Docker: two ``punchclock serve`` replicas sharing
PostgreSQL and Redis behind a round-robin balancer; a subscriber on one replica sees a
mutation sent to the other."""

from __future__ import annotations

import httpx
import pytest

from store.db import Database
from store.ids import new_id
from tests.e2e.proxy import RoundRobinProxy
from tests.e2e.server import metric, running_server, until_live
from tests.e2e.test_subscriptions import EVENTS, call, expect_event
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import START
from tests.services import REDIS_URL, require

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("dialect", ["postgresql"])
async def test_two_replicas_behind_a_balancer(db: Database, database_url: str) -> None:
    require(REDIS_URL, "redis")
    world = await make_team(db, "Acme", prefix="a")
    env = {"PUNCHCLOCK_BROADCAST_URL": REDIS_URL}
    with (
        running_server(database_url, env=env, serve=True) as a,
        running_server(database_url, env=env, serve=True) as b,
    ):
        proxy = RoundRobinProxy([a, b])
        async with proxy.running() as lb:
            ws = await GraphQLWS.open(lb, world.owner.token)  # connection 1: replica A
            assert (await ws.acked())["type"] == "connection_ack"
            await ws.subscribe(EVENTS, {"team": world.id})
            await until_live(a, 1)  # registered before the change
            started = await call(  # connection 2: replica B
                lb, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
            )
            await expect_event(ws, "STARTED", started["timeEntry"]["id"])
            assert proxy.routed == [0, 1]
            # The replicas' own metrics confirm who did what.
            assert await metric(a, "punchclock_live_subscriptions") == 1
            assert await metric(b, "punchclock_live_subscriptions") == 0
            assert await metric(b, "punchclock_operations_total", type="mutation") == 1
            assert await metric(a, "punchclock_operations_total", type="mutation") == 0
            await ws.close()


async def test_two_instances_sharing_redis_enforce_one_limit_per_token(
    db: Database, database_url: str
) -> None:
    require(REDIS_URL, "redis")
    world = await make_team(db, "Acme", prefix="a")
    env = {
        "PUNCHCLOCK_REDIS_URL": REDIS_URL,
        "PUNCHCLOCK_REDIS_KEY_PREFIX": "test-" + new_id(),
        "PUNCHCLOCK_RATE_LIMIT_ENABLED": "true",
        "PUNCHCLOCK_RATE_LIMIT_POINTS": "6",
        "PUNCHCLOCK_RATE_LIMIT_WINDOW_SECONDS": "300",
    }
    headers = {"authorization": f"Bearer {world.owner.token}"}
    with running_server(database_url, env=env) as a, running_server(database_url, env=env) as b:
        async with httpx.AsyncClient(timeout=10) as client:
            statuses = []
            for base in (a, b) * 5:  # 10 requests of 1 point, alternating instances
                response = await client.post(
                    base + "/graphql", json={"query": "{ viewer { id } }"}, headers=headers
                )
                statuses.append(response.status_code)
            assert statuses == [200] * 6 + [429] * 4
            other = {"authorization": f"Bearer {world.member.token}"}
            response = await client.post(
                b + "/graphql", json={"query": "{ viewer { id } }"}, headers=other
            )
            assert response.json()["data"] == {"viewer": {"id": world.member.id}}
