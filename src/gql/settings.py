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
    db_pool_size: int = Field(default=10, ge=1, le=200, description="PostgreSQL pool size.")
    fast_path: bool = Field(
        default=True,
        description="Answer plannable queries (pages of time entries) through the compiled "
        "read path; off: every query executes field by field.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
