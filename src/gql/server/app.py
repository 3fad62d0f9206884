"""``create_app(settings)``: the Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette_exporter import PrometheusMiddleware

from gql.export import Exports
from gql.guard.persisted import PersistedQueries
from gql.guard.ratelimit import RateLimiter
from gql.live.delivery import Deliverer
from gql.live.pubsub import EventBus
from gql.schema.build import build_schema, schema
from gql.server import gcpolicy, graphiql, logs, shutdown
from gql.server.bodylimit import BodyLimitMiddleware
from gql.server.boundary import ErrorBoundaryMiddleware, http_error
from gql.server.metrics import LATENCY_BUCKETS, Metrics
from gql.server.middleware import GraphQLRequestMiddleware
from gql.server.services import Services
from gql.server.view import PunchclockGraphQL
from gql.settings import Settings
from store import idempotency, outbox, timers, webhooks
from store.db import Database
from store.events import EventLog
from store.ids import new_id
from store.timeutil import utcnow

log = logging.getLogger("punchclock")


def sane_request_id(value: str) -> bool:
    """A client's ``X-Request-Id`` is kept when it is short and printable (else a new one
    is made): it goes into log lines and error answers."""
    return 0 < len(value) <= 64 and value.isprintable()


class PunchclockApp(Starlette):
    """The Starlette app, with one shortcut: ``POST /graphql`` (nearly every request) goes
    through the same middleware (ServerErrorMiddleware and ours) straight to the GraphQL
    view, without Starlette's ExceptionMiddleware and router, which only find that view
    again and cost a few percent of a compiled request. Everything else, GET and
    WebSocket ``/graphql`` included, takes the router as usual."""

    def __init__(self, *args: Any, graphql: ASGIApp, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._graphql = graphql
        self._graphql_post: ASGIApp | None = None

    def _graphql_post_stack(self) -> ASGIApp:
        # What build_middleware_stack builds around the router, around the view instead
        # (the view handles its own HTTP errors: ExceptionMiddleware has nothing to do).
        assert self.max_body_size is None  # BodyLimitMiddleware limits bodies here
        handler = self.exception_handlers.get(500) or self.exception_handlers.get(Exception)
        app = self._graphql
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return ServerErrorMiddleware(app, handler=handler, debug=self.debug)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == GRAPHQL_PATH
            and not scope.get("root_path")
        ):
            # What the router would set: the HTTP metrics name the route from them.
            scope["app"], scope["router"], scope["endpoint"] = self, self.router, self._graphql
            if self._graphql_post is None:
                self._graphql_post = self._graphql_post_stack()
            await self._graphql_post(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


GRAPHQL_PATH = "/graphql"
PURGE_EVERY_SECONDS = 600
DASHBOARD_HTML = (graphiql.STATIC / "dashboard.html").read_text()


async def purge_idempotency_records(db: Database, retention: timedelta) -> None:
    """Delete idempotency records past their 24 hours, and outbox events and webhook
    delivery attempts past their retention, every few minutes."""
    while True:
        try:
            async with db.write() as session:
                now = utcnow()
                purged = await idempotency.purge_expired(session, now=now)
                pruned = await outbox.prune(session, before=now - retention)
                pruned += await webhooks.prune_deliveries(session, before=now - retention)
                await session.commit()
            if purged or pruned:
                log.info(
                    "purged %d idempotency records, %d old events and deliveries", purged, pruned
                )
        except Exception as exc:  # a lost database must not end the loop
            log.warning("idempotency purge failed: %r", exc)
        await asyncio.sleep(PURGE_EVERY_SECONDS)


async def stop_overdue_timers(db: Database, events: EventBus, every: float) -> None:
    """Stop timers at their team's limit (``store.timers.stop_overdue``), every ``every``
    seconds; the STOPPED events go out after the commit, like any mutation's."""
    while True:
        await asyncio.sleep(every)
        try:
            log_of_stops = EventLog()
            async with db.read() as session:
                due = await timers.any_overdue(session, now=utcnow())
            if not due:  # a read, not a write transaction, every second
                continue
            async with db.write() as session:
                stopped = await timers.stop_overdue(session, now=utcnow(), events=log_of_stops)
                await outbox.append(session, log_of_stops)
                await session.commit()
            if stopped:
                log.info("stopped %d timers at their team's limit", len(stopped))
                await events.publish(log_of_stops)
        except Exception as exc:  # a lost database must not end the loop
            log.warning("timer sweep failed: %r", exc)


async def last_positions(db: Database, team_ids: list[str]) -> dict[str, int]:
    async with db.read() as session:
        return await outbox.last_positions(session, team_ids)


def create_app(settings: Settings | None = None) -> PunchclockApp:
    if settings is None:  # the server's own factory: this process logs our way
        settings = Settings()
        logs.configure(settings.log_format, settings.log_level)
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    services = Services(
        settings=settings,
        db=db,
        schema=build_schema(max_batch=settings.max_batch_size)
        if settings.batching_enabled
        else schema,
        events=EventBus(settings.broadcast_url),
        limits=Services.limits_from(settings),
        rate_limiter=(
            RateLimiter(
                settings.rate_limit_points,
                settings.rate_limit_window_seconds,
                redis_url=settings.redis_url,
                key_prefix=settings.redis_key_prefix,
            )
            if settings.rate_limit_enabled
            else None
        ),
    )
    services.metrics = Metrics(db, services.live_subscriptions)
    persisted = PersistedQueries(
        db,
        keep=settings.persisted_queries_max,
        redis_url=settings.redis_url,
        key_prefix=settings.redis_key_prefix,
        operations_file=settings.persisted_queries_file,
        only=settings.persisted_queries_only,
    )
    graphql = PunchclockGraphQL(
        services,
        keep_alive=True,
        keep_alive_interval=15,
        allowed_origins=settings.cors_origins,
        max_subscriptions_per_connection=settings.ws_max_operations,
    )

    async def dashboard(_: Request) -> Response:
        return HTMLResponse(DASHBOARD_HTML)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(_: Request) -> Response:
        # This app's GraphQL metrics, then the process's: HTTP requests (starlette-exporter
        # keeps them in the default registry), and the process and Python collectors.
        body = generate_latest(services.metrics.registry) + generate_latest(REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def readyz(_: Request) -> Response:
        if services.draining:  # load balancers stop sending before the process goes
            return JSONResponse({"status": "draining"}, status_code=503)
        database = "up"
        try:
            async with db.read() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        except Exception as exc:  # the reason goes to the log, not to the prober
            log.warning("readiness check failed: %r", exc)
            database = "down"
        broadcast = "up" if services.events.healthy else "down"
        ok = database == "up" and broadcast == "up"
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "database": database, "broadcast": broadcast},
            status_code=200 if ok else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        services.events.poll_with(lambda teams: last_positions(db, teams))
        await persisted.start()
        await services.events.start()
        purger = asyncio.create_task(
            purge_idempotency_records(db, timedelta(hours=settings.event_retention_hours))
        )
        sweeper = asyncio.create_task(
            stop_overdue_timers(db, services.events, settings.timer_sweep_seconds)
        )
        deliverer = (
            asyncio.create_task(Deliverer(db, settings).run())
            if settings.webhooks_deliver
            else None
        )
        shutdown.register(services)
        unfreezer: asyncio.Task[None] | None = None
        if settings.gc_freeze:
            gcpolicy.install()
            unfreezer = asyncio.create_task(gcpolicy.unfreeze_every(settings.gc_unfreeze_seconds))
        try:
            yield
        finally:
            shutdown.unregister(services)
            purger.cancel()
            sweeper.cancel()
            if deliverer is not None:
                deliverer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await deliverer
            if unfreezer is not None:
                unfreezer.cancel()
                gcpolicy.release()
            await services.events.stop()
            await persisted.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if unfreezer is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await unfreezer
            await db.dispose()

    app = PunchclockApp(
        graphql=graphql,
        routes=[
            Route(GRAPHQL_PATH, graphql, methods=["GET", "POST"]),
            WebSocketRoute(GRAPHQL_PATH, graphql),
            Route("/dashboard", dashboard),
            Mount("/static", StaticFiles(directory=graphiql.STATIC)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *Exports(services).routes(),
        ],
        middleware=[
            Middleware(
                PrometheusMiddleware,
                app_name="punchclock",
                prefix="punchclock_http",
                buckets=LATENCY_BUCKETS,
                group_paths=True,
                filter_unhandled_paths=False,
                group_unhandled_paths=True,  # unknown paths: one label, "__unknown__"
            ),
            Middleware(
                CorrelationIdMiddleware,
                header_name="X-Request-Id",
                generator=new_id,
                validator=sane_request_id,
            ),
            Middleware(ErrorBoundaryMiddleware),  # inside: its log lines carry the id
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type", "x-request-id", "idempotency-key"],
                expose_headers=["x-request-id", "content-disposition"],
                max_age=600,
            ),
            Middleware(GraphQLRequestMiddleware, store=persisted, path=GRAPHQL_PATH),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.state.services = services
    app.state.graphql = graphql
    return app
