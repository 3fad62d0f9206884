"""Observability: /metrics in Prometheus format, JSON log lines with request ids, slow log."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gql.server import logs
from store.db import Database
from tests.conftest import QUIET
from tests.factories import make_team


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_operations_latency_errors_and_pool(
    db: Database, make_client: Any
) -> None:
    # Quiet: the timer sweep's and the webhook deliverer's reads each second would
    # otherwise be connections checked out at the moment of the scrape.
    app_client: httpx.AsyncClient = await make_client(**QUIET)
    world = await make_team(db, "Acme", prefix="a")
    auth = {"authorization": f"Bearer {world.owner.token}"}
    for _ in range(3):
        await app_client.post(
            "/graphql", json={"query": "query Me { viewer { id } }"}, headers=auth
        )
    await app_client.post("/graphql", json={"query": "query Bad { nope }"}, headers=auth)
    await app_client.post("/graphql", json={"query": "{ viewer { id } }"})  # no token
    response = await app_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    assert found[("punchclock_operations_total", (("operation", "Me"), ("type", "query")))] == 3
    assert found[("punchclock_operation_duration_seconds_count", (("operation", "Me"),))] == 3
    assert found[("punchclock_errors_total", (("code", "GRAPHQL_VALIDATION_FAILED"),))] == 1
    assert found[("punchclock_errors_total", (("code", "UNAUTHENTICATED"),))] == 1
    assert found[("punchclock_live_subscriptions", ())] == 0
    assert (
        found[("punchclock_db_pool_connections", (("pool", "read"), ("state", "checkedout")))] == 0
    )
    assert ("punchclock_db_pool_connections", (("pool", "read"), ("state", "size"))) in found


async def test_error_responses_carry_the_request_id(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={"x-request-id": "req-42"}
    )
    assert response.headers["x-request-id"] == "req-42"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "req-42"


def test_json_lines_carry_the_request_id_and_extras() -> None:
    formatter = logs.JsonFormatter()
    record = logging.LogRecord(
        "punchclock.x", logging.WARNING, __file__, 1, "took %d ms", (7,), None
    )
    record.duration_ms = 7.5
    bound = logs.request_id.set("req-7")
    try:
        logs.RequestIdFilter().filter(record)
    finally:
        logs.request_id.reset(bound)
    line = json.loads(formatter.format(record))
    assert line["message"] == "took 7 ms"
    assert line["level"] == "warning" and line["logger"] == "punchclock.x"
    assert line["request_id"] == "req-7"
    assert line["duration_ms"] == 7.5
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "idle", None, None)
    logs.RequestIdFilter().filter(outside)
    assert json.loads(formatter.format(outside))["request_id"] == "-"


async def test_slow_operations_are_logged_with_name_cost_and_request_id(
    db: Database, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    auth = {"authorization": f"Bearer {world.owner.token}", "x-request-id": "slow-1"}
    quick = await make_client()
    slow = await make_client(slow_operation_ms=0.001)
    caplog.handler.addFilter(logs.RequestIdFilter())
    with caplog.at_level(logging.WARNING, logger="punchclock.slow"):
        await quick.post("/graphql", json={"query": "query Me { viewer { id } }"}, headers=auth)
        assert not [r for r in caplog.records if r.name == "punchclock.slow"]
        await slow.post("/graphql", json={"query": "query Me { viewer { id } }"}, headers=auth)
    [record] = [r for r in caplog.records if r.name == "punchclock.slow"]
    assert record.operation == "Me"  # type: ignore[attr-defined]
    assert record.cost == 1  # type: ignore[attr-defined]
    assert record.request_id == "slow-1"  # type: ignore[attr-defined]
    assert record.duration_ms > 0  # type: ignore[attr-defined]


async def test_http_and_process_metrics(db: Database, app_client: httpx.AsyncClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    auth = {"authorization": f"Bearer {world.owner.token}"}
    post = ("punchclock_http_requests_total", "POST", "/graphql", "200")
    health = ("punchclock_http_requests_total", "GET", "/healthz", "200")
    unknown = ("punchclock_http_requests_total", "GET", "__unknown__", "404")
    timed = ("punchclock_http_request_duration_seconds_count", "POST", "/graphql", "200")

    def http(found: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[Any, float]:
        """HTTP samples by (name, method, path, status) of this app (the default registry
        is the process's: other tests' apps count there too, hence the differences)."""
        out: dict[Any, float] = {}
        for (name, labels), value in found.items():
            tags = dict(labels)
            if name.startswith("punchclock_http_") and {"path", "status_code"} <= tags.keys():
                key = (name, tags["method"], tags["path"], tags["status_code"])
                out[key] = out.get(key, 0) + value
        return out

    before = http(samples((await app_client.get("/metrics")).text))
    for _ in range(3):
        await app_client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=auth)
    await app_client.get("/healthz")
    await app_client.get("/no/such/page")
    found = samples((await app_client.get("/metrics")).text)
    after = http(found)
    for key, grown in ((post, 3), (health, 1), (unknown, 1), (timed, 3)):
        assert after.get(key, 0) - before.get(key, 0) == grown, key
    assert found[("process_resident_memory_bytes", ())] > 0
    assert ("python_gc_objects_collected_total", (("generation", "0"),)) in found
    pool = {
        dict(labels)["state"]: value
        for (name, labels), value in found.items()
        if name == "punchclock_db_pool_connections" and dict(labels)["pool"] == "read"
    }
    assert pool["overflow"] == 0 and pool["size"] >= 1
    assert pool["open"] == pool["checkedin"] + pool["checkedout"] <= pool["size"]
