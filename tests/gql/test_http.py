"""The HTTP surface: auth, GraphiQL, GET, health, CORS, masked errors, request ids."""

from __future__ import annotations

import logging

import httpx
import pytest

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from tests.factories import make_team

VIEWER = "{ viewer { id } }"


async def test_missing_or_bad_token_is_unauthenticated(app_client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"authorization": "Bearer nope"},
        {"authorization": "Basic abc"},
        {"authorization": "Bearer pc_AAAAAAAAAAAA_" + "B" * 32},
    ):
        response = await app_client.post("/graphql", json={"query": VIEWER}, headers=headers)
        body = response.json()
        assert response.status_code == 200
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_unauthenticated_is_401_for_graphql_response_json(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.post(
        "/graphql", json={"query": VIEWER}, headers={"accept": "application/graphql-response+json"}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_introspection_works_without_a_token(app_client: httpx.AsyncClient) -> None:
    response = await app_client.post(
        "/graphql", json={"query": "{ __schema { queryType { name } } }"}
    )
    assert response.json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    # ...but not as a way around auth.
    response = await app_client.post("/graphql", json={"query": "{ __typename viewer { id } }"})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_revoked_token_stops_working(db: Database, app_client: httpx.AsyncClient) -> None:
    from store import tokens
    from store.timeutil import utcnow

    world = await make_team(db, "Acme", prefix="a")
    headers = {"authorization": f"Bearer {world.member.token}"}
    assert (await app_client.post("/graphql", json={"query": VIEWER}, headers=headers)).json()[
        "data"
    ]
    prefix, _ = tokens.parse_token(world.member.token) or ("", "")
    async with db.write() as s:
        assert await tokens.revoke_token(s, prefix=prefix, at=utcnow())
        await s.commit()
    body = (await app_client.post("/graphql", json={"query": VIEWER}, headers=headers)).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_get_query_and_graphiql(db: Database, app_client: httpx.AsyncClient) -> None:
    world = await make_team(db, "Acme", prefix="a")
    response = await app_client.get(
        "/graphql",
        params={"query": VIEWER},
        headers={"authorization": f"Bearer {world.member.token}"},
    )
    assert response.json()["data"] == {"viewer": {"id": world.member.id}}
    page = await app_client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_health_and_readiness(app_client: httpx.AsyncClient) -> None:
    assert (await app_client.get("/healthz")).json() == {"status": "ok"}
    ready = await app_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "up"


async def test_readiness_fails_when_the_database_is_gone() -> None:
    app = create_app(Settings(database_url="postgresql://postgres@127.0.0.1:1/none"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503 and response.json()["database"] == "down"


async def test_request_id_is_echoed_or_made(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    response = await app_client.get("/healthz")
    assert len(response.headers["x-request-id"]) == 26


async def test_cors_preflight(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, cors_origins=["https://app.example"]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.options(
            "/graphql",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,content-type",
            },
        )
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        denied = await client.options(
            "/graphql",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in denied.headers
    await app.state.services.db.dispose()


async def test_post_graphql_keeps_every_middleware(
    database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /graphql skips Starlette's router (PunchclockApp), not the middleware: the
    request id, CORS, the body limit and the 500 of an exception that escapes the view
    are there as on every other route; other paths and methods still take the router."""
    app = create_app(
        Settings(
            database_url=database_url, cors_origins=["https://app.example"], max_body_bytes=2048
        )
    )
    world = await make_team(db, "Acme", prefix="a")
    auth = {"authorization": f"Bearer {world.member.token}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
        ) as client,
    ):
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { id } }"},
            headers={**auth, "origin": "https://app.example", "x-request-id": "req-9"},
        )
        assert response.json() == {"data": {"viewer": {"id": world.member.id}}} | {
            "extensions": response.json()["extensions"]
        }
        assert response.headers["x-request-id"] == "req-9"
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        # Content-Disposition too: an SPA reads an export's file name from it.
        assert (
            response.headers["access-control-expose-headers"] == "x-request-id, content-disposition"
        )
        assert response.headers["vary"] == "Origin"
        large = await client.post("/graphql", content=b"{" + b" " * 4096 + b"}", headers=auth)
        assert large.status_code == 413
        assert large.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert "x-request-id" in large.headers
        # Not the shortcut: the router answers as before.
        assert (await client.post("/graphql/", json={"query": "{ __typename }"})).status_code in (
            307,
            404,
        )
        assert (await client.put("/graphql", json={"query": "{ __typename }"})).status_code == 405

        async def broken(*_: object, **__: object) -> object:
            raise RuntimeError("escaped the view")

        # An exception outside execution (authentication) escapes the view: the error
        # boundary answers INTERNAL with 500, as JSON, with the request id.
        monkeypatch.setattr("gql.server.view.authenticate_token", broken)
        failed = await client.post(
            "/graphql", json={"query": "{ viewer { id } }"}, headers={**auth, "x-request-id": "r-5"}
        )
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/json"
        assert failed.headers["x-request-id"] == "r-5"
        assert failed.json() == {
            "data": None,
            "errors": [
                {
                    "message": "Internal error.",
                    "extensions": {"code": "INTERNAL", "requestId": "r-5"},
                }
            ],
        }
        assert "escaped" not in failed.text


async def test_unexpected_failure_is_masked(
    db: Database,
    app_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await make_team(db, "Acme", prefix="a")

    async def broken(*_: object, **__: object) -> object:
        raise RuntimeError("secret /srv/path SELECT * FROM users")

    monkeypatch.setattr("store.lookups.load", broken)
    response = await app_client.post(
        "/graphql",
        json={"query": "{ teams { id } }"},
        headers={"authorization": f"Bearer {world.member.token}", "x-request-id": "req-1"},
    )
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-1"}
    assert error["message"] == "Internal error."
    assert "secret" not in response.text and "SELECT" not in response.text
    # Logged once (Strawberry's own error log is off), with the request id.
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert "req-1" in logged[0].getMessage() and logged[0].exc_info is not None


async def test_http_statuses_follow_graphql_over_http(
    db: Database, app_client: httpx.AsyncClient
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    auth = {"authorization": f"Bearer {world.member.token}"}
    response = await app_client.post(
        "/graphql",
        content=b'{"query": "{ viewer { id } }"}',
        headers={**auth, "content-type": "text/plain"},
    )
    assert response.status_code == 415
    response = await app_client.get(
        "/graphql", params={"query": "mutation { stopTimer(input: {}) { replayed } }"}, headers=auth
    )
    assert response.status_code == 405
    response = await app_client.post(
        "/graphql", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 400
    # Validation failure: 400 and no data entry for graphql-response+json ...
    modern = {**auth, "accept": "application/graphql-response+json"}
    response = await app_client.post("/graphql", json={"query": "{ nope }"}, headers=modern)
    assert response.status_code == 400 and "data" not in response.json()
    # ... but 200 for application/json, where the status carries no GraphQL meaning.
    response = await app_client.post("/graphql", json={"query": "{ nope }"}, headers=auth)
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_batching_is_off_unless_enabled(db: Database, make_client: object) -> None:
    world = await make_team(db, "Acme", prefix="a")
    auth = {"authorization": f"Bearer {world.member.token}"}
    batch = [{"query": "{ viewer { id } }"}, {"query": "{ a: viewer { id } }"}]
    default: httpx.AsyncClient = await make_client()  # type: ignore[operator]
    response = await default.post("/graphql", json=batch, headers=auth)
    assert response.status_code == 400 and "Batching is not enabled" in response.text
    enabled: httpx.AsyncClient = await make_client(batching_enabled=True, max_batch_size=2)  # type: ignore[operator]
    response = await enabled.post("/graphql", json=batch, headers=auth)
    assert [r["data"] for r in response.json()] == [
        {"viewer": {"id": world.member.id}},
        {"a": {"id": world.member.id}},
    ]
    response = await enabled.post("/graphql", json=batch * 2, headers=auth)
    assert response.status_code == 400


async def test_client_mistakes_are_not_logged_as_errors(
    db: Database,
    app_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    headers = {"authorization": f"Bearer {world.member.token}"}
    mistakes = [
        {"query": "{ teams { id "},  # syntax
        {"query": "{ teams { nope } }"},  # validation
        {"query": "query($t: ID!) { team(id: $t) { id } }", "variables": {"t": 5.5}},  # variables
        {"query": '{ timeEntries(filter: {teamId: "x"}, first: 1000) { totalCount } }'},  # limit
    ]
    caplog.set_level(logging.DEBUG)
    for body in mistakes:
        answer = (await app_client.post("/graphql", json=body, headers=headers)).json()
        assert answer["errors"][0]["extensions"]["code"] != "INTERNAL", answer
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    async def broken(*_: object, **__: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr("store.lookups.load", broken)
    await app_client.post("/graphql", json={"query": "{ teams { id } }"}, headers=headers)
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashes and all(r.exc_info or "boom" in r.getMessage() for r in crashes)
