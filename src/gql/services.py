"""What a running server holds: the database, the schema, the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry

from gql.fanout import FanOut
from gql.limits import Limits
from gql.pubsub import EventBus
from gql.ratelimit import LeakyBucket
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
    rate_limiter: LeakyBucket | None = None

    @classmethod
    def limits_from(cls, settings: Settings) -> Limits:
        return Limits(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_nodes=settings.max_nodes,
        )
