"""What a running server holds: the database, the schema, the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import strawberry

from gql.guard.limits import Limits
from gql.guard.ratelimit import RateLimiter
from gql.live.fanout import FanOut
from gql.live.pubsub import EventBus
from gql.live.revocations import Revocations
from gql.settings import Settings
from store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    schema: strawberry.Schema
    events: EventBus
    fanout: FanOut = field(default_factory=FanOut)
    limits: Limits = field(default_factory=Limits)
    rate_limiter: RateLimiter | None = None
    metrics: Any = None  # gql.server.metrics.Metrics
    # The WebSocket protocol handlers now running: for the live-subscription gauge and
    # so that shutdown can close their sockets with 1001 (going away).
    websockets: set[Any] = field(default_factory=set)
    draining: bool = False
    revocations: Revocations = field(init=False)

    def __post_init__(self) -> None:
        self.revocations = Revocations(self.db)

    def live_subscriptions(self) -> float:
        return float(
            sum(
                len(getattr(h, "operations", None) or getattr(h, "tasks", {}))
                for h in self.websockets
            )
        )

    @classmethod
    def limits_from(cls, settings: Settings) -> Limits:
        return Limits(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_nodes=settings.max_nodes,
            max_fields=settings.max_fields,
            max_variables=settings.max_variables,
            validation_budget_ms=settings.validation_budget_ms,
        )
