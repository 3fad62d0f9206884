"""What a running server holds: the database, the schema, the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry

from gql.fanout import FanOut
from gql.pubsub import EventBus
from gql.settings import Settings
from store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    schema: strawberry.Schema
    events: EventBus
    fanout: FanOut = field(default_factory=FanOut)
