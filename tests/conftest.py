"""Fixtures: every store and API test runs on SQLite and on PostgreSQL (``dialect``)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.migrate import upgrade
from store.models import metadata
from tests.services import POSTGRES_URL, require

GQL = Callable[..., Awaitable[dict[str, Any]]]

# Settings for an app whose statements a test counts: the timer sweep and the webhook
# deliverer (each a read every second, from the app's background tasks) would otherwise
# land among them.
QUIET: dict[str, Any] = {"timer_sweep_seconds": 3600, "webhooks_deliver": False}


async def _create_schema(url: str) -> None:
    """The schema as production gets it: through the migrations."""
    await upgrade(url)


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    await _create_schema(f"sqlite:///{path}")
    return path


def _pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def scratch_postgres(prefix: str) -> AsyncIterator[str]:
    """A PostgreSQL database of its own, with the schema, dropped at the end."""
    require(POSTGRES_URL, "postgres")
    name = f"{prefix}_{uuid4().hex[:12]}"
    admin = await asyncpg.connect(_pg_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    await _create_schema(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(_pg_dsn(POSTGRES_URL))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def scratch_url(request: pytest.FixtureRequest, dialect: str, *, file: Path, postgres: str) -> str:
    """An empty database with the schema on ``dialect``: on SQLite a copy of the template
    at ``file``, on PostgreSQL the (emptied) database of the fixture ``postgres``."""
    if dialect == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), file)
        return f"sqlite:///{file}"
    return str(request.getfixturevalue(postgres))


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A database of its own for this test session, with the schema, dropped at the end."""
    async with scratch_postgres("pc_test") as url:
        yield url


async def truncate_all(url: str) -> None:
    conn = await asyncpg.connect(_pg_dsn(url))
    try:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        await conn.execute(f"TRUNCATE {tables} CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def postgres_clean_url(postgres_url: str) -> str:
    await truncate_all(postgres_url)
    return postgres_url


@pytest.fixture
def database_url(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the schema, on the test's dialect."""
    return scratch_url(
        request, dialect, file=tmp_path / "punchclock.db", postgres="postgres_clean_url"
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def app_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


def gql_over(client: httpx.AsyncClient) -> GQL:
    """POST a GraphQL operation through ``client``; returns the decoded JSON body."""

    async def run(
        query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    return run


@pytest.fixture
def gql(app_client: httpx.AsyncClient) -> GQL:
    """POST a GraphQL operation; returns the decoded JSON body."""
    return gql_over(app_client)


@pytest.fixture
async def make_client(
    database_url: str,
) -> AsyncIterator[Any]:
    """A client of an app built with the given settings (limits under test)."""
    clients: list[tuple[Any, httpx.AsyncClient]] = []

    async def make(**settings: Any) -> httpx.AsyncClient:
        app = create_app(Settings(database_url=database_url, **settings))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        clients.append((lifespan, client))
        return client

    yield make
    for lifespan, client in clients:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
