"""Persisted queries: documents by SHA-256 for Apollo's automatic persisted queries,
seen by every instance, and an optional allow-list of operations.

Where: Redis when ``PUNCHCLOCK_REDIS_URL`` is set (a hash of documents and a sorted set
of when each came, trimmed to ``PUNCHCLOCK_PERSISTED_QUERIES_MAX``), else the database
(:mod:`store.persisted_queries`, trimmed the same way). Each process also keeps the last
``LOCAL_CACHE`` documents it served: a hash names one document forever, so that copy is
never stale. A store that fails is logged and read as "not found": the client then sends
the whole document, which runs (and is registered when the store is back).

The allow-list (``PUNCHCLOCK_PERSISTED_QUERIES_FILE``) is loaded at start: an Apollo
persisted query manifest (``{"format": "apollo-persisted-query-manifest", "operations":
[{"id", "body", ...}]}``) or a JSON object of id to document (Relay's ``persisted-queries
.json``). Its documents are found by their SHA-256 and by their id. With
``PUNCHCLOCK_PERSISTED_QUERIES_ONLY=true`` nothing else runs and nothing is registered.

Hand-written: Apollo's protocol is a few lines of HTTP handling, and no maintained Python
package implements it for Starlette or Strawberry (Strawberry has no persisted-query
support; the packages that do are Django or Graphene ones).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from store import persisted_queries
from store.db import Database
from store.timeutil import utcnow_precise

log = logging.getLogger("punchclock")

LOCAL_CACHE = 1000
REDIS_TIMEOUT_SECONDS = 0.5


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def load_operations(path: Path) -> dict[str, str]:
    """id (and SHA-256) → document, from an operations file; ValueError when malformed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"persisted queries file {path}: {exc}") from exc
    pairs: list[tuple[str, object]]
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ValueError(f"persisted queries file {path}: `operations` is not a list")
        pairs = [(str(op.get("id")), op.get("body")) for op in operations if isinstance(op, dict)]
    elif isinstance(data, dict):
        pairs = list(data.items())
    else:
        raise ValueError(f"persisted queries file {path}: expected a JSON object")
    found: dict[str, str] = {}
    for key, document in pairs:
        if not isinstance(document, str) or not document.strip():
            raise ValueError(f"persisted queries file {path}: operation {key!r} has no document")
        found[key] = document
        found[sha256_of(document)] = document
    return found


class PersistedQueries:
    def __init__(
        self,
        db: Database,
        *,
        keep: int,
        redis_url: str | None = None,
        key_prefix: str = "punchclock",
        operations_file: str | None = None,
        only: bool = False,
    ) -> None:
        if only and not operations_file:
            raise ValueError(
                "PUNCHCLOCK_PERSISTED_QUERIES_ONLY needs PUNCHCLOCK_PERSISTED_QUERIES_FILE"
            )
        self.db = db
        self.keep = keep
        self.only = only
        self._redis_url = redis_url
        self._documents_key = f"{key_prefix}:apq:documents"
        self._order_key = f"{key_prefix}:apq:order"
        self._file = Path(operations_file) if operations_file else None
        self._redis: Any = None  # redis.asyncio.Redis (its stubs mix sync and async)
        self._local: OrderedDict[str, str] = OrderedDict()
        self.allowed: dict[str, str] = {}

    async def start(self) -> None:
        if self._file is not None:
            self.allowed = load_operations(self._file)
        if self._redis_url:
            self._redis = aioredis.from_url(
                self._redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )

    async def stop(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def is_allowed(self, document: object) -> bool:
        return isinstance(document, str) and sha256_of(document) in self.allowed

    async def find(self, sha256: str) -> str | None:
        document = self._local.get(sha256) or self.allowed.get(sha256)
        if document is None and not self.only:
            try:
                document = await self._find_stored(sha256)
            except Exception as exc:
                log.warning("persisted query store unreachable: %r", exc)
        if document is not None:
            self._remember(sha256, document)
        return document

    async def register(self, sha256: str, document: str) -> None:
        """Keep ``document`` (whose SHA-256 the caller checked) for every instance."""
        if sha256 in self._local:
            return
        try:
            await self._store(sha256, document)
        except Exception as exc:
            log.warning("persisted query not registered: %r", exc)
            return
        self._remember(sha256, document)

    def _remember(self, sha256: str, document: str) -> None:
        self._local[sha256] = document
        self._local.move_to_end(sha256)
        while len(self._local) > LOCAL_CACHE:
            self._local.popitem(last=False)

    async def _find_stored(self, sha256: str) -> str | None:
        if self._redis is not None:
            found: Any = await self._redis.hget(self._documents_key, sha256)
            return found.decode() if isinstance(found, bytes) else None
        async with self.db.read() as session:
            return await persisted_queries.find(session, sha256=sha256)

    async def _store(self, sha256: str, document: str) -> None:
        if self._redis is None:
            async with self.db.write() as session:
                await persisted_queries.register(
                    session, sha256=sha256, document=document, now=utcnow_precise(), keep=self.keep
                )
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._documents_key, sha256, document)
            pipe.zadd(self._order_key, {sha256: time.time()}, nx=True)
            pipe.zcard(self._order_key)
            *_, count = await pipe.execute()
        if count > self.keep:
            dropped = await self._redis.zpopmin(self._order_key, count - self.keep)
            if dropped:
                await self._redis.hdel(self._documents_key, *(member for member, _ in dropped))
