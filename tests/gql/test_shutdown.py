"""Draining on shutdown: readiness fails first, so balancers stop sending."""

from __future__ import annotations

import httpx

from gql.server import shutdown


async def test_going_away_marks_the_app_draining(app_client: httpx.AsyncClient) -> None:
    assert (await app_client.get("/readyz")).status_code == 200
    assert await shutdown.going_away() == 0  # no WebSockets open
    response = await app_client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "draining"}
    assert (await app_client.get("/healthz")).status_code == 200  # alive, just leaving
