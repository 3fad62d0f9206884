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


class CatalogKind(StrEnum):
    """What happened to a task, a category, a tag or a membership."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"  # a membership ended (removeTeamMember)


class Subject(StrEnum):
    """What an event is about."""

    ENTRY = "ENTRY"
    TASK = "TASK"
    CATEGORY = "CATEGORY"
    MEMBER = "MEMBER"
    TEAM = "TEAM"  # the team's own settings (updateTeam): rounding, zone, rates...
    TAG = "TAG"  # a tag of the team (issue 20): created, renamed, archived, restored


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

    ``version`` is the entry's version after the change. ``position`` orders the team's
    events (``store.outbox``): given when the event is written in its transaction, and
    the cursor a client resumes from. A catalogue event names its ``subject`` (TASK,
    CATEGORY, MEMBER) and its id in ``entry_id``, with no user and version 0.
    """

    kind: EventKind | CatalogKind
    entry_id: str
    team_id: str
    user_id: str | None
    version: int
    occurred_at: datetime
    subject: Subject = Subject.ENTRY
    position: int | None = None

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
                "subject": self.subject.value,
                "position": self.position,
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> EntryEvent:
        data = orjson.loads(text)
        subject = Subject(data.get("subject", Subject.ENTRY.value))
        kind = data["kind"]
        position = data.get("position")
        return cls(
            EventKind(kind) if subject is Subject.ENTRY else CatalogKind(kind),
            data["entryId"],
            data["teamId"],
            data["userId"],
            int(data["version"]),
            datetime.fromisoformat(data["occurredAt"]),
            subject,
            None if position is None else int(position),
        )


class EventLog(list[EntryEvent]):
    """The events of one transaction, in the order the changes were made."""

    def add(self, kind: EventKind, row: EntryKeys, at: datetime) -> None:
        self.append(EntryEvent.of(kind, row, at))

    def catalog(
        self, kind: CatalogKind, subject: Subject, *, team_id: str, subject_id: str, at: datetime
    ) -> None:
        """A change of the team's catalogue: a task, a category, a membership, or the
        team's own settings."""
        self.append(EntryEvent(kind, subject_id, team_id, None, 0, at, subject))

    def team_changed(self, team_id: str, at: datetime) -> None:
        """A change of the team's own row (its settings, its archiving): TEAM UPDATED."""
        self.catalog(CatalogKind.UPDATED, Subject.TEAM, team_id=team_id, subject_id=team_id, at=at)
