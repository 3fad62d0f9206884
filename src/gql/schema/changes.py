"""The change feed of a team (``teamChanges``) and catalogue events: both read the
outbox's gap-free positions (``store.outbox``), so a partner that pages with the last
cursor it saw misses no committed change, whatever the number of concurrent writers."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from gql.live import stream
from gql.schema.context import Info
from gql.schema.declare import EVENT_SUBJECT
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.types.entry import TimeEntry
from gql.schema.types.pagination import MAX_PAGE, decode_event_cursor, event_cursor
from gql.schema.types.team import Category, Tag, Task
from store import outbox
from store.events import CatalogKind, EntryEvent, Subject

ChangeSubject = strawberry.enum(Subject, name="ChangeSubject", description="What changed.")
CatalogEventKind = strawberry.enum(CatalogKind, name="CatalogEventKind")


@strawberry.enum(description="What happened: an entry's kinds of `TimerEvent`, or CREATED.")
class ChangeKind(Enum):
    # store.events.EventKind's values and CatalogKind.CREATED (a test keeps them so).
    STARTED = "STARTED"
    STOPPED = "STOPPED"
    LOGGED = "LOGGED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    COMMENTED = "COMMENTED"
    CREATED = "CREATED"


@strawberry.type
class _Subjects:
    """The task, category or tag an event is about, as it is now."""

    event: strawberry.Private[EntryEvent]

    @strawberry.field(metadata=EVENT_SUBJECT, description="The task as it is now (TASK changes).")
    async def task(self, info: Info) -> Task | None:
        if self.event.subject is not Subject.TASK:
            return None
        row = await info.context.loaders.task.load(self.event.entry_id)
        return Task.from_row(row) if row else None

    @strawberry.field(
        metadata=EVENT_SUBJECT, description="The category as it is now (CATEGORY changes)."
    )
    async def category(self, info: Info) -> Category | None:
        if self.event.subject is not Subject.CATEGORY:
            return None
        row = await info.context.loaders.category.load(self.event.entry_id)
        return Category.from_row(row) if row else None

    @strawberry.field(metadata=EVENT_SUBJECT, description="The tag as it is now (TAG changes).")
    async def tag(self, info: Info) -> Tag | None:
        if self.event.subject is not Subject.TAG:
            return None
        row = await info.context.loaders.tag.load(self.event.entry_id)
        return Tag.from_row(row) if row else None


@strawberry.type(description="A change of a team's task, category, tag or membership.")
class CatalogEvent(_Subjects):
    kind: CatalogKind
    subject: Subject
    subject_id: strawberry.ID
    occurred_at: datetime
    cursor: str

    @classmethod
    def of(cls, event: EntryEvent) -> CatalogEvent:
        assert event.position is not None
        return cls(
            event=event,
            kind=CatalogKind(event.kind),
            subject=event.subject,
            subject_id=strawberry.ID(event.entry_id),
            occurred_at=event.occurred_at,
            cursor=event_cursor(event.position),
        )


@strawberry.type(description="One committed change of a team, at its place in the feed.")
class TeamChange(_Subjects):
    cursor: str
    kind: ChangeKind
    subject: Subject
    subject_id: strawberry.ID
    occurred_at: datetime
    version: int | None = strawberry.field(description="The entry's version after the change.")

    @strawberry.field(
        metadata=EVENT_SUBJECT,
        description="The entry as it is now (ENTRY changes; deleted ones too).",
    )
    async def time_entry(self, info: Info) -> TimeEntry | None:
        if self.event.subject is not Subject.ENTRY:
            return None
        row = await info.context.loaders.entry.load(self.event.entry_id)
        return TimeEntry.from_row(row) if row else None


@strawberry.type
class TeamChanges:
    nodes: list[TeamChange]
    end_cursor: str | None = strawberry.field(
        description="Pass it as `after` for the next page (or the next poll)."
    )
    has_next_page: bool


async def team_changes(info: Info, team_id: str, after: str | None, first: int) -> TeamChanges:
    ctx = info.context
    if not 1 <= first <= MAX_PAGE:
        raise CodedError(TopLevelCode.VALIDATION, f"`first` is 1 to {MAX_PAGE}.")
    start = decode_event_cursor(after) if after is not None else 0
    if not ctx.is_member(team_id):
        return TeamChanges(nodes=[], end_cursor=after, has_next_page=False)
    if after is not None:
        await stream.check_retained(ctx, team_id, start)
    async with ctx.db.read() as session:
        page = await outbox.read_after(session, team_id=team_id, after=start, limit=first + 1)
    more, page = len(page) > first, page[:first]
    nodes = [
        TeamChange(
            event=e,
            cursor=event_cursor(e.position or 0),
            kind=ChangeKind(e.kind.value),
            subject=e.subject,
            subject_id=strawberry.ID(e.entry_id),
            occurred_at=e.occurred_at,
            version=e.version if e.subject is Subject.ENTRY else None,
        )
        for e in page
    ]
    end = nodes[-1].cursor if nodes else after
    return TeamChanges(nodes=nodes, end_cursor=end, has_next_page=more)
