"""Configuration from the environment (prefix ``PUNCHCLOCK_``) and ``.env``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PUNCHCLOCK_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="sqlite:///punchclock.db",
        description="postgresql://… or sqlite:///path (mapped to asyncpg / aiosqlite).",
    )
    broadcast_url: str = Field(
        default="memory://", description="memory://, redis://… or postgres://… for pub/sub."
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port `serve` binds to.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS and for WebSockets.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level."
    )
    db_pool_size: int = Field(
        default=10, ge=1, le=200, description="PostgreSQL connections per process (no overflow)."
    )
    db_pool_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Time a request waits for a pooled PostgreSQL connection (else UNAVAILABLE).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body accepted (else 413)."
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Time a request's headers may take to arrive (else 408)."
    )
    max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request head accepted (else 431)."
    )
    shared_subscription_queue: int = Field(
        default=4096,
        ge=1,
        description="Events a shared subscription execution may fall behind the broadcast "
        "before its subscribers get SUBSCRIBER_TOO_SLOW (a few hundred bytes each).",
    )
    ws_max_operations: int = Field(
        default=100, ge=1, description="Operations running at once on one WebSocket."
    )

    # Query limits, checked before anything executes (QUERY_TOO_COMPLEX).
    max_depth: int = Field(default=10, ge=1, description="Deepest field nesting.")
    max_aliases: int = Field(default=30, ge=0, description="Aliases in one operation.")
    max_tokens: int = Field(default=2000, ge=100, description="Lexical tokens in a document.")
    max_nodes: int = Field(
        default=10_000, ge=100, description="Nodes an operation may return (nested `first`s)."
    )
    max_fields: int = Field(
        default=1000,
        ge=100,
        description="Field selections in a document, fragments expanded per use.",
    )
    max_variables: int = Field(
        default=100, ge=1, description="Variables declared by a document's operations."
    )
    validation_budget_ms: float = Field(
        default=50.0, gt=0, description="CPU time validation of one document may take."
    )

    # Shared state of all instances: rate limits and persisted queries.
    redis_url: str | None = Field(
        default=None,
        description="redis://… shared by every instance for rate limits and persisted "
        "queries (else: rate limits per process, persisted queries in the database).",
    )
    redis_key_prefix: str = Field(
        default="punchclock", min_length=1, description="Prefix of every key written to Redis."
    )

    # Rate limiting: points per window, per token (per address without a valid token).
    rate_limit_enabled: bool = Field(default=False, description="Refuse with RATE_LIMITED.")
    rate_limit_points: int = Field(default=1000, ge=1, description="Points per window.")
    rate_limit_window_seconds: int = Field(
        default=100, ge=1, description="The window the points are counted over (sliding)."
    )

    # Persisted queries (Apollo's automatic persisted queries, and an allow-list).
    persisted_queries_max: int = Field(
        default=10_000, ge=1, description="Persisted documents kept (oldest dropped first)."
    )
    persisted_queries_file: str | None = Field(
        default=None,
        description="A JSON file of operations (an Apollo persisted query manifest, or an "
        "object of sha256 hash to document) registered at start.",
    )
    persisted_queries_only: bool = Field(
        default=False,
        description="Allow-list mode: refuse documents not in persisted_queries_file.",
    )

    # GraphQL over HTTP.
    batching_enabled: bool = Field(default=False, description="Accept a JSON array of requests.")
    max_batch_size: int = Field(default=10, ge=1, description="Operations in one batch.")

    # Observability.
    log_format: Literal["text", "json"] = Field(default="text", description="Log line format.")
    slow_operation_ms: float = Field(
        default=1000, ge=0, description="Log operations slower than this (0: off)."
    )
    shutdown_timeout: int = Field(
        default=10, ge=1, description="Seconds SIGTERM waits for in-flight requests."
    )
    gc_freeze: bool = Field(
        default=True,
        description="Freeze the survivors of each full garbage collection (short GC pauses "
        "with thousands of open WebSockets).",
    )
    gc_unfreeze_seconds: float = Field(
        default=900, gt=0, description="Hand frozen objects back to the collector this often."
    )
    event_retention_hours: int = Field(
        default=168,
        ge=1,
        le=24 * 366,
        description="How long the outbox keeps a team's events for resuming streams and the "
        "change feed (older cursors get CURSOR_EXPIRED).",
    )
    timer_sweep_seconds: float = Field(
        default=1,
        gt=0,
        le=3600,
        description="How often the server looks for timers at their team's limit and stops "
        "them (at exactly the limit, whenever the sweep runs).",
    )

    # Webhooks (gql.live.delivery, store.webhooks).
    webhooks_deliver: bool = Field(
        default=True, description="Run the webhook deliverer in this process."
    )
    webhooks_poll_seconds: float = Field(
        default=1, gt=0, le=3600, description="How often an idle deliverer looks for events."
    )
    webhooks_concurrency: int = Field(
        default=20, ge=1, le=1000, description="Webhooks one process delivers to at once."
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Accept webhook URLs that resolve to loopback, private, link-local or "
        "other non-public addresses (else VALIDATION, and refused again at delivery).",
    )
    webhooks_timeout_seconds: float = Field(
        default=10, gt=0, le=120, description="Time one webhook POST may take."
    )
    webhooks_retry_base_seconds: float = Field(
        default=10, gt=0, description="First retry delay of a failed delivery (then doubling)."
    )
    webhooks_retry_max_seconds: float = Field(
        default=3600, gt=0, description="Longest retry delay (before jitter)."
    )
    webhooks_disable_after_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description="A webhook failing this long since its first failure is disabled.",
    )

    # CSV exports (gql.export).
    export_batch_rows: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Rows an export fetches from its cursor and writes out at a time.",
    )
    export_max_streams: int = Field(
        default=4,
        ge=1,
        description="Entry exports streaming at once per process (each holds a pooled "
        "database connection until it ends); beyond: RATE_LIMITED, retry after 5 s.",
    )

    # The compiled read path (gql.compiler).
    fast_path: bool = Field(
        default=True,
        description="Answer plannable documents (pages of time entries, logTimeEntry) "
        "through the compiled paths; off: every operation executes field by field.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
