"""Per-request DataLoaders: one per relation, built fresh for every request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from store import directory, entries
from store.db import Database
from store.models import Category, Comment, Membership, Task, Team, TimeEntry, User

K = TypeVar("K")
V = TypeVar("V")


class Loaders:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.team = self._by_key(directory.teams_by_ids, None)
        self.user = self._by_key(directory.users_by_ids, None)
        self.task = self._by_key(directory.tasks_by_ids, None)
        self.category = self._by_key(directory.categories_by_ids, None)
        self.entry = self._by_key(entries.entries_by_ids, None)
        self.comment = self._by_key(entries.comments_by_ids, None)
        self.team_categories: DataLoader[str, list[Category]] = self._grouped(
            directory.categories_by_team_ids, "team_ids"
        )
        self.team_members: DataLoader[str, list[Membership]] = self._grouped(
            directory.members_by_team_ids, "team_ids"
        )
        self.user_memberships: DataLoader[str, list[Membership]] = self._grouped(
            directory.memberships_by_user_ids, "user_ids"
        )
        self.entry_comments: DataLoader[str, list[Comment]] = self._grouped(
            entries.comments_by_entry_ids, "entry_ids"
        )
        self.team_running: DataLoader[str, list[TimeEntry]] = self._grouped(
            entries.running_by_team_ids, "team_ids"
        )
        self.user_running = self._by_key(entries.running_by_user_ids, "user_ids")

    def _by_key(
        self, fetch: Callable[..., Awaitable[dict[str, V]]], arg: str | None
    ) -> DataLoader[str, V | None]:
        db, name = self._db, arg or "ids"

        async def load(keys: Sequence[str]) -> list[V | None]:
            async with db.read() as session:
                found = await fetch(session, **{name: list(keys)})
            return [found.get(k) for k in keys]

        return DataLoader(load_fn=load)

    def _grouped(
        self, fetch: Callable[..., Awaitable[dict[str, list[V]]]], arg: str
    ) -> DataLoader[str, list[V]]:
        db = self._db

        async def load(keys: Sequence[str]) -> list[list[V]]:
            async with db.read() as session:
                found = await fetch(session, **{arg: list(keys)})
            return [found.get(k, []) for k in keys]

        return DataLoader(load_fn=load)

    def prime_entries(self, rows: Sequence[TimeEntry]) -> None:
        for row in rows:
            self.entry.prime(row.id, row)


__all__ = ["Category", "Loaders", "Task", "Team", "User"]
