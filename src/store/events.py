"""Change events of time entries, collected during a transaction and published after commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import orjson


class EventKind(StrEnum):
    STARTED = "STARTED"
    STOPPED = "STOPPED"
    LOGGED = "LOGGED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    COMMENTED = "COMMENTED"


class EntryKeys(Protocol):
    """What an event names of its entry: :class:`store.models.TimeEntry` fits."""

    @property
    def id(self) -> str: ...

    @property
    def team_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class EntryEvent:
    """A small message: ids and kind. Subscribers re-read what they need.

    ``version`` is the entry's version after the change, so a receiver can keep commit
    order per entry even when two publishers race after their commits.
    """

    kind: EventKind
    entry_id: str
    team_id: str
    user_id: str
    version: int
    occurred_at: datetime

    @classmethod
    def of(cls, kind: EventKind, row: EntryKeys, at: datetime) -> EntryEvent:
        return cls(kind, row.id, row.team_id, row.user_id, row.version, at)

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "kind": self.kind.value,
                "entryId": self.entry_id,
                "teamId": self.team_id,
                "userId": self.user_id,
                "version": self.version,
                "occurredAt": self.occurred_at.isoformat(),
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> EntryEvent:
        data = orjson.loads(text)
        return cls(
            EventKind(data["kind"]),
            data["entryId"],
            data["teamId"],
            data["userId"],
            int(data["version"]),
            datetime.fromisoformat(data["occurredAt"]),
        )


class EventLog(list[EntryEvent]):
    """The events of one transaction, in the order the changes were made."""

    def add(self, kind: EventKind, row: EntryKeys, at: datetime) -> None:
        self.append(EntryEvent.of(kind, row, at))
