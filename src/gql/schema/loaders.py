"""Per-request DataLoaders: one per relation, built fresh for every request.

Each loader is created on first use, so a request (or a subscription delivery) pays only
for the relations it actually touches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TypeVar

from strawberry.dataloader import DataLoader

from store import directory, entries
from store.db import Database
from store.models import Category, Comment, Membership, Task, Team, TimeEntry, User

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
    """

    def load(self, key: K) -> Awaitable[T]:
        return asyncio.shield(super().load(key))


class Loaders:
    def __init__(self, db: Database) -> None:
        self._db = db

    @cached_property
    def team(self) -> DataLoader[str, Team | None]:
        return self._by_key(directory.teams_by_ids)

    @cached_property
    def user(self) -> DataLoader[str, User | None]:
        return self._by_key(directory.users_by_ids)

    @cached_property
    def task(self) -> DataLoader[str, Task | None]:
        return self._by_key(directory.tasks_by_ids)

    @cached_property
    def category(self) -> DataLoader[str, Category | None]:
        return self._by_key(directory.categories_by_ids)

    @cached_property
    def entry(self) -> DataLoader[str, TimeEntry | None]:
        return self._by_key(entries.entries_by_ids)

    @cached_property
    def comment(self) -> DataLoader[str, Comment | None]:
        return self._by_key(entries.comments_by_ids)

    @cached_property
    def user_running(self) -> DataLoader[str, TimeEntry | None]:
        return self._by_key(entries.running_by_user_ids, "user_ids")

    @cached_property
    def team_categories(self) -> DataLoader[str, list[Category]]:
        return self._grouped(directory.categories_by_team_ids, "team_ids")

    @cached_property
    def team_members(self) -> DataLoader[str, list[Membership]]:
        return self._grouped(directory.members_by_team_ids, "team_ids")

    @cached_property
    def user_memberships(self) -> DataLoader[str, list[Membership]]:
        return self._grouped(directory.memberships_by_user_ids, "user_ids")

    @cached_property
    def entry_comments(self) -> DataLoader[str, list[Comment]]:
        return self._grouped(entries.comments_by_entry_ids, "entry_ids")

    @cached_property
    def team_running(self) -> DataLoader[str, list[TimeEntry]]:
        return self._grouped(entries.running_by_team_ids, "team_ids")

    def _by_key(
        self, fetch: Callable[..., Awaitable[dict[str, V]]], arg: str = "ids"
    ) -> DataLoader[str, V | None]:
        db = self._db

        async def load(keys: Sequence[str]) -> list[V | None]:
            async with db.read() as session:
                found = await fetch(session, **{arg: list(keys)})
            return [found.get(k) for k in keys]

        return SharedLoader(load_fn=load)

    def _grouped(
        self, fetch: Callable[..., Awaitable[dict[str, list[V]]]], arg: str
    ) -> DataLoader[str, list[V]]:
        db = self._db

        async def load(keys: Sequence[str]) -> list[list[V]]:
            async with db.read() as session:
                found = await fetch(session, **{arg: list(keys)})
            return [found.get(k, []) for k in keys]

        return SharedLoader(load_fn=load)

    def prime_entries(self, rows: Sequence[TimeEntry]) -> None:
        for row in rows:
            self.entry.prime(row.id, row)
