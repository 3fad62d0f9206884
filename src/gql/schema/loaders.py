"""Per-request DataLoaders: one per relation, built fresh for every request.

Each loader is created on first use, so a request (or a subscription delivery) pays only
for the relations it actually touches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from store import lookups, nodes, pins, tags
from store.db import Database
from store.entry_pages import Page, PageRequest, entry_pages

V = TypeVar("V")
K = TypeVar("K")
T = TypeVar("T")


class SharedLoader(DataLoader[K, T]):
    """A DataLoader whose awaiters cannot cancel each other's result.

    Fields that load the same key share one cached future. graphql-core cancels the
    siblings of a field whose error nulls their parent; awaiting the shared future
    directly, that cancellation cancelled the future itself, and an unrelated field
    awaiting the same key (``{ viewer { teams { categories } } teams { categories } }``)
    got a CancelledError that escaped as a bare 500.

    Rows read along with a page are kept as plain values (:meth:`keep`) and become a
    cached future only when something loads them through ``load``: the compiled path
    takes them as they are (:func:`cached_values`), and a page primes a hundred of them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept: dict[K, T] = {}

    def keep(self, key: K, value: T) -> None:
        """``prime(key, value)`` without making a future: unless the key is cached."""
        if key in self.kept:
            return
        if self.cache_map.get(key) is not None:
            return  # loaded, primed, or pending in a batch: as prime() leaves it
        self.kept[key] = value

    def load(self, key: K) -> Awaitable[T]:
        if key in self.kept:
            super().prime(key, self.kept.pop(key))
        return asyncio.shield(super().load(key))

    def prime_many(self, data: Any, force: bool = False) -> None:
        if force:
            for key in data:
                self.kept.pop(key, None)
        elif self.kept:
            data = {k: v for k, v in data.items() if k not in self.kept}  # kept first
        super().prime_many(data, force)


def cached_values(loader: DataLoader[K, T], keys: Sequence[K]) -> list[T] | None:
    """The values of ``keys`` when every one is already loaded or primed (kept, or a
    settled future in the loader's cache), without awaiting anything; None when any is
    not.

    What awaiting ``load_many`` would give, minus a shield, a gather and their callbacks
    per key: a page of 100 entries primes its users, tasks and categories, and the
    compiled path then asks for all of them at once."""
    if not loader.cache:
        return None
    kept: dict[Any, Any] = getattr(loader, "kept", {})
    get = loader.cache_map.get
    out: list[T] = []
    for key in keys:
        if key in kept:
            out.append(kept[key])
            continue
        future = get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return None
        out.append(future.result())
    return out


async def level_values(loader: DataLoader[K, T], keys: list[K]) -> list[T]:
    """The values of ``keys``, all of one level of the compiled path (which asks for a
    level's keys at once, so there is nothing to batch them with): when none of them is
    loaded, kept or pending, one call of the loader's batch function, the values kept as
    plain values (:meth:`SharedLoader.keep`); else ``load_many``.

    ``load_many`` makes a future, a shield and a gather entry per key: for a to-many
    relation under a page of 100 entries (``TimeEntry.tags``) that was a third of the
    relation's cost (1.3 ms of CPU per request, profiled)."""
    kept: dict[Any, Any] | None = getattr(loader, "kept", None)
    cached = loader.cache_map.get
    if kept is not None and not any(k in kept or cached(k) is not None for k in keys):
        values: list[Any] = list(await loader.load_fn(keys))
        keep = loader.keep  # type: ignore[attr-defined]
        for key, value in zip(keys, values, strict=True):
            keep(key, value)
        return values
    loaded: list[Any] = list(await loader.load_many(keys))
    return loaded


class PageBatch:
    """Pages of entries asked for in the same turn of the event loop (a nested
    connection under each of many parents) read together, in one statement
    (``store.entry_pages.entry_pages``). Requests with other ``reads`` than the first
    of a batch wait for the next one. Hand-written: DataLoader keys must be hashable and
    are cached; a page request is neither."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[PageRequest, Any, asyncio.Future[Page]]] = []

    def load(self, request: PageRequest, reads: Any) -> Awaitable[Page]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Page] = loop.create_future()
        self._pending.append((request, reads, future))
        if len(self._pending) == 1:
            loop.call_soon(lambda: loop.create_task(self._dispatch()))
        return future

    async def _dispatch(self) -> None:
        pending, self._pending = self._pending, []
        reads = pending[0][1]
        now = [p for p in pending if p[1] == reads]
        later = [p for p in pending if p[1] != reads]
        if later:
            for request, other, future in later:
                self._pending.append((request, other, future))
            loop = asyncio.get_running_loop()
            loop.call_soon(lambda: loop.create_task(self._dispatch()))
        try:
            pages = await entry_pages(self._db, [p[0] for p in now], reads=reads)
        except BaseException as exc:
            for _, _, future in now:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), page in zip(now, pages, strict=True):
            if not future.done():
                future.set_result(page)


class Loaders:
    """Each loader reads one relation of ``store.lookups`` for a request."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @cached_property
    def team(self) -> DataLoader[str, Any]:
        return self._of(lookups.TEAMS)

    @cached_property
    def user(self) -> DataLoader[str, Any]:
        return self._of(lookups.USERS)

    @cached_property
    def task(self) -> DataLoader[str, Any]:
        return self._of(lookups.TASKS)

    @cached_property
    def category(self) -> DataLoader[str, Any]:
        return self._of(lookups.CATEGORIES)

    @cached_property
    def entry(self) -> DataLoader[str, Any]:
        return self._of(lookups.ENTRIES)

    @cached_property
    def comment(self) -> DataLoader[str, Any]:
        return self._of(lookups.COMMENTS)

    @cached_property
    def webhook(self) -> DataLoader[str, Any]:
        return self._of(lookups.WEBHOOKS)

    @cached_property
    def access_token(self) -> DataLoader[str, Any]:
        return self._of(lookups.ACCESS_TOKENS)

    @cached_property
    def tag(self) -> DataLoader[str, Any]:
        return self._of(lookups.TAGS)

    @cached_property
    def team_tags(self) -> DataLoader[str, Any]:
        return self._of(lookups.TEAM_TAGS)

    @cached_property
    def entry_tags(self) -> DataLoader[str, list[Any]]:
        """The tags of each entry (through ``entry_tags``): one statement per batch, so
        per level of entries."""
        db = self._db

        async def load(keys: Sequence[str]) -> list[list[Any]]:
            found = await tags.tags_of_entries(db, list(keys))
            return [found.get(k, []) for k in keys]

        return SharedLoader(load_fn=load)

    @cached_property
    def node_kinds(self) -> DataLoader[str, list[str]]:
        """The kinds of row an id names (``store.nodes``): one statement per batch."""
        db = self._db

        async def load(keys: Sequence[str]) -> list[list[str]]:
            found = await nodes.kinds_of(db, list(keys))
            return [found.get(k, []) for k in keys]

        return SharedLoader(load_fn=load)

    @cached_property
    def pinned(self) -> DataLoader[str, bool]:
        """Whether a user pinned a task, by ``"<user id> <task id>"`` (the request's
        loaders know no viewer): one statement per user and batch, so per level of tasks."""
        db = self._db

        async def load(keys: Sequence[str]) -> list[bool]:
            by_user: dict[str, list[str]] = {}
            for key in keys:
                user_id, task_id = key.split(" ", 1)
                by_user.setdefault(user_id, []).append(task_id)
            found: set[str] = set()
            for user_id, task_ids in by_user.items():
                found |= {
                    f"{user_id} {t}"
                    for t in await pins.pinned_among(db, user_id=user_id, task_ids=task_ids)
                }
            return [k in found for k in keys]

        return SharedLoader(load_fn=load)

    @cached_property
    def user_running(self) -> DataLoader[str, Any]:
        return self._of(lookups.USER_RUNNING)

    @cached_property
    def team_categories(self) -> DataLoader[str, Any]:
        return self._of(lookups.TEAM_CATEGORIES)

    @cached_property
    def team_members(self) -> DataLoader[str, Any]:
        return self._of(lookups.TEAM_MEMBERS)

    @cached_property
    def user_memberships(self) -> DataLoader[str, Any]:
        return self._of(lookups.USER_MEMBERSHIPS)

    @cached_property
    def entry_comments(self) -> DataLoader[str, Any]:
        return self._of(lookups.ENTRY_COMMENTS)

    @cached_property
    def entry_history(self) -> DataLoader[str, Any]:
        return self._of(lookups.ENTRY_HISTORY)

    @cached_property
    def team_running(self) -> DataLoader[str, Any]:
        return self._of(lookups.TEAM_RUNNING)

    def _of(self, lookup: lookups.Lookup) -> DataLoader[str, Any]:
        db = self._db
        missing: Any = [] if lookup.many else None

        async def load(keys: Sequence[str]) -> list[Any]:
            found = await lookups.load(db, lookup, list(keys))
            return [found.get(k, missing) for k in keys]

        return SharedLoader(load_fn=load)

    @cached_property
    def pages(self) -> PageBatch:
        return PageBatch(self._db)

    def prime_entries(self, rows: Sequence[Any]) -> None:
        for row in rows:
            self.entry.prime(row.id, row)

    def prime_related(self, related: dict[str, list[Any]]) -> None:
        """Rows read with a page (``store.entry_pages.entry_page``), by relation."""
        for name, rows in related.items():
            loader = {"team": self.team, "user": self.user, "task": self.task}.get(name)
            loader = loader or self.category  # task_category, category
            keep = loader.keep if isinstance(loader, SharedLoader) else loader.prime
            for row in rows:
                keep(row.id, row)
