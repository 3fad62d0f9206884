"""What a running server holds: the database, the schema, the settings."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from gql.pubsub import EventBus
from gql.settings import Settings
from store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    schema: strawberry.Schema
    events: EventBus
