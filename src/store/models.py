"""SQLModel tables.

Money is integer cents, durations integer seconds, instants tz-aware UTC
(:class:`store.types.UTCDateTime`). Enumerations are stored as short strings; the values
are the members of the ``StrEnum`` classes below.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, Relationship, SQLModel

from store.timeutil import utcnow_precise
from store.types import UTCDateTime

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


class Role(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class TokenScope(StrEnum):
    """What a personal access token may do: READ runs queries and subscriptions only."""

    READ = "READ"
    WRITE = "WRITE"


class Rounding(StrEnum):
    NONE = "NONE"
    FLOOR = "FLOOR"
    CEIL = "CEIL"
    NEAREST = "NEAREST"


class OverlapPolicy(StrEnum):
    """What a team does with a write that makes two live entries of one user overlap
    (``store.overlap``): accept it silently, accept it with a warning, or refuse it."""

    ALLOW = "ALLOW"
    WARN = "WARN"
    REFUSE = "REFUSE"


class TaskState(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class ScopeType(StrEnum):
    TASK = "TASK"
    CATEGORY = "CATEGORY"


class EntryStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    LOCKED = "LOCKED"
    INVOICED = "INVOICED"


class InputType(StrEnum):
    REALTIME = "REALTIME"
    MANUAL = "MANUAL"
    AUTOMATION = "AUTOMATION"


class Source(StrEnum):
    API = "API"
    UI = "UI"
    IMPORT = "IMPORT"


class EntryAction(StrEnum):
    """What a change of a time entry was (``entry_changes.action``, store.history)."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STOPPED = "STOPPED"
    AUTO_STOPPED = "AUTO_STOPPED"
    TRANSITIONED = "TRANSITIONED"
    DELETED = "DELETED"
    RESTORED = "RESTORED"


def _utc(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _fk(target: str, *, nullable: bool = False, ondelete: str | None = None) -> Column[str]:
    return Column(String(26), ForeignKey(target, ondelete=ondelete), nullable=nullable)


class Team(SQLModel, table=True):
    __tablename__ = "teams"
    __table_args__ = (
        CheckConstraint(
            "overlap_policy IN ({})".format(", ".join(f"'{p.value}'" for p in OverlapPolicy)),
            name="overlap_policy",
        ),
    )

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    name: str = Field(max_length=200)
    time_zone: str = Field(default="UTC", max_length=64)
    week_start: int = Field(default=1)
    rounding: str = Field(default=Rounding.NONE.value, max_length=16)
    rounding_minutes: int = Field(default=1)
    default_billable: bool = Field(default=True)
    default_rate_cents: int = Field(default=0)
    tasks_readonly: bool = Field(default=False)
    # How long a timer of the team may run, 1 to 24 hours (store.rules.timer_limit).
    max_timer_hours: int = Field(
        default=24, sa_column=Column(Integer, nullable=False, server_default="24")
    )
    # What a write that overlaps the user's own entries meets (store.overlap).
    overlap_policy: str = Field(
        default=OverlapPolicy.ALLOW.value,
        sa_column=Column(String(8), nullable=False, server_default=OverlapPolicy.ALLOW.value),
    )
    locked_before: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    updated_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    # When the team was archived (null: active): read-only until restored (store.archive).
    archived_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    nickname: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True)
    time_zone: str = Field(default="UTC", max_length=64)
    locale: str = Field(default="en", max_length=35)
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"

    team_id: str = Field(
        sa_column=Column(String(26), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    )
    user_id: str = Field(
        sa_column=Column(
            String(26), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    role: str = Field(default=Role.MEMBER.value, max_length=16)
    rate_cents: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())


class Category(SQLModel, table=True):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("team_id", "key"),)

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    parent_id: str | None = Field(default=None, sa_column=_fk("categories.id", nullable=True))
    key: str | None = Field(default=None, max_length=255)
    title: str = Field(max_length=200)
    color: int | None = Field(default=None)
    position: int = Field(default=0)
    archived: bool = Field(default=False)
    billable: bool | None = Field(default=None)
    rate_cents: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    updated_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("team_id", "key"), Index(None, "category_id"))

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    category_id: str | None = Field(default=None, sa_column=_fk("categories.id", nullable=True))
    key: str = Field(max_length=1000)
    title: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    state: str = Field(default=TaskState.OPEN.value, max_length=16)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    updated_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    # When the task was archived (null: active): closed to new time (store.rules).
    archived_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class TimeEntry(SQLModel, table=True):
    """One span of work. ``stopped_at`` is null while the timer runs.

    ``duration_seconds`` is null while running (it is the time up to now) and equals
    ``stopped_at - started_at`` once stopped. ``category_id`` is set only for
    CATEGORY-scoped entries; a TASK entry's category is its task's.
    """

    __tablename__ = "time_entries"
    __table_args__ = (
        UniqueConstraint("team_id", "ext_provider", "ext_type", "ext_id"),
        # Keyset pagination and the team filter: newest first, ties by id.
        Index(None, "team_id", "started_at", "id"),
        # A user's entries in the same order (a user's page: no sort of all their entries).
        Index(None, "user_id", "started_at", "id"),
        Index(None, "task_id"),
        Index(None, "category_id"),
        Index(None, "team_id", "updated_at"),
        # The database itself guarantees at most one running entry per user.
        Index(
            "uq_time_entries_running_user",
            "user_id",
            unique=True,
            sqlite_where=text("stopped_at IS NULL"),
            postgresql_where=text("stopped_at IS NULL"),
        ),
        # A team's running entries (dashboards), newest first, without its other entries.
        Index(
            "ix_time_entries_running_team",
            "team_id",
            "started_at",
            "id",
            sqlite_where=text("stopped_at IS NULL"),
            postgresql_where=text("stopped_at IS NULL"),
        ),
        # A user's latest stop (store.timers: a start never goes back before it), found
        # at the end of this index instead of by reading all their entries.
        Index("ix_time_entries_user_id_stopped_at", "user_id", "stopped_at"),
    )

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    user_id: str = Field(sa_column=_fk("users.id", ondelete="CASCADE"))
    scope_type: str = Field(max_length=16)
    task_id: str | None = Field(default=None, sa_column=_fk("tasks.id", nullable=True))
    category_id: str | None = Field(default=None, sa_column=_fk("categories.id", nullable=True))
    started_at: datetime = Field(sa_column=_utc())
    stopped_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    duration_seconds: int | None = Field(default=None)
    work_date: date
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    billable: bool
    rate_snapshot_cents: int = Field(default=0)
    status: str = Field(default=EntryStatus.DRAFT.value, max_length=16)
    input_type: str = Field(default=InputType.MANUAL.value, max_length=16)
    source: str = Field(default=Source.API.value, max_length=16)
    ext_provider: str | None = Field(default=None, max_length=100)
    ext_type: str | None = Field(default=None, max_length=100)
    ext_id: str | None = Field(default=None, max_length=255)
    locked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    deleted_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    updated_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    version: int = Field(default=1)
    # Set when the server stopped the timer at its 24-hour limit (store.timer_limits).
    auto_stopped: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # What the entry's rounded seconds and amount were when it was LOCKED: money that is
    # locked never moves, whatever the team's rounding later (store.money.entry_money).
    frozen_rounded_seconds: int | None = Field(default=None)
    frozen_amount_cents: int | None = Field(default=None)
    # Hash of the create request when the client chose the id: a repeat with the same
    # id must be the same request to be replayed.
    request_hash: str | None = Field(default=None, max_length=64)


class EntryChange(SQLModel, table=True):
    """One committed change of a time entry (``TimeEntry.history``, store.history): who
    (null: the server itself), when (the write's instant), what kind, and the values of
    the API fields it changed. Rows go with their entry (ON DELETE CASCADE)."""

    __tablename__ = "entry_changes"
    __table_args__ = (
        Index(None, "entry_id", "at", "id"),
        CheckConstraint(
            "action IN (" + ", ".join(f"'{a.value}'" for a in EntryAction) + ")",
            name="action",
        ),
    )

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    entry_id: str = Field(sa_column=_fk("time_entries.id", ondelete="CASCADE"))
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    # Users are never deleted: a plain foreign key (null is the server, not a lost user).
    user_id: str | None = Field(default=None, sa_column=_fk("users.id", nullable=True))
    at: datetime = Field(sa_column=_utc())
    action: str = Field(max_length=16)
    # [{"field": <GraphQL field name>, "from": <API value or null>, "to": ...}, ...]
    changes: list[dict[str, str | None]] = Field(sa_column=Column(JSON, nullable=False))
    # Never loaded: declared so that a flush inserts an entry before its change rows (the
    # unit of work orders mappers by their relationships, not by foreign keys).
    entry: TimeEntry = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class TaskPin(SQLModel, table=True):
    """A user's favourite task (``pinTask``): personal, per user; ``team_id`` is the task's
    team, kept here so a user's pins of a team are read by one index."""

    __tablename__ = "task_pins"
    __table_args__ = (Index(None, "user_id", "team_id", "created_at"),)

    user_id: str = Field(
        sa_column=Column(String(26), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    task_id: str = Field(
        sa_column=Column(String(26), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    )
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())


class Tag(SQLModel, table=True):
    """A team's label for entries (issue 20): any number per entry (``entry_tags``).

    ``name`` is stored trimmed; among a team's live (not archived) tags it is unique in any
    case: ``name_key`` is its ``str.casefold()`` (``store.tags.name_key``, one rule on both
    databases, where SQL's ``lower`` differs), unique per team among live tags
    (``uq_tags_team_live_name``); archiving a tag frees its name.
    An archived tag stays on its entries and in filters and reports, and takes no new
    entries (``TAG_ARCHIVED``)."""

    __tablename__ = "tags"
    __table_args__ = (
        Index(
            "uq_tags_team_live_name",
            "team_id",
            "name_key",
            unique=True,
            sqlite_where=text("archived_at IS NULL"),
            postgresql_where=text("archived_at IS NULL"),
        ),
        Index(None, "team_id", "name_key", "id"),
    )

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    name: str = Field(max_length=100)
    # casefold() may lengthen a name ("ß" -> "ss"): room for that.
    name_key: str = Field(max_length=400)
    color: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    updated_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    # When an admin archived the tag (null: live): kept on its entries, no new ones.
    archived_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class EntryTag(SQLModel, table=True):
    """A tag on an entry. ``team_id`` (the entry's and the tag's) is kept so a team's tag
    filters read ``(tag_id, entry_id)`` alone; rows go with their entry or tag."""

    __tablename__ = "entry_tags"
    __table_args__ = (Index(None, "tag_id", "entry_id"),)

    entry_id: str = Field(
        sa_column=Column(
            String(26), ForeignKey("time_entries.id", ondelete="CASCADE"), primary_key=True
        )
    )
    tag_id: str = Field(
        sa_column=Column(String(26), ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    )
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))


class Comment(SQLModel, table=True):
    __tablename__ = "comments"
    __table_args__ = (Index(None, "time_entry_id", "created_at"),)

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    time_entry_id: str = Field(sa_column=_fk("time_entries.id", ondelete="CASCADE"))
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    user_id: str = Field(sa_column=_fk("users.id", ondelete="CASCADE"))
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())


class AccessToken(SQLModel, table=True):
    """A personal access token. Only a SHA-256 hash of its secret is kept."""

    __tablename__ = "access_tokens"
    # viewer.accessTokens and the per-user limit of live tokens read a user's tokens.
    __table_args__ = (Index(None, "user_id"),)

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    user_id: str = Field(sa_column=_fk("users.id", ondelete="CASCADE"))
    prefix: str = Field(max_length=12, unique=True)
    secret_hash: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    revoked_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    scope: str = Field(
        default=TokenScope.WRITE.value,
        sa_column=Column(
            String(8), nullable=False, server_default=text(f"'{TokenScope.WRITE.value}'")
        ),
    )
    # Refused from this instant on, as a revoked token is (store.tokens.is_live).
    expires_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class IdempotencyRecord(SQLModel, table=True):
    """A stored mutation result, keyed by (user, mutation, client key), kept 24 hours."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "mutation", "key"),)

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    user_id: str = Field(sa_column=_fk("users.id", ondelete="CASCADE"))
    mutation: str = Field(max_length=64)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    expires_at: datetime = Field(sa_column=_utc(index=True))


class TeamEvent(SQLModel, table=True):
    """The transactional outbox: every committed change of a team's entries and catalogue,
    written in the change's own transaction, at a position that orders the team's events.

    Positions are gap-free and in commit order per team (``store.outbox``). ``subject`` is
    what changed (ENTRY, TASK, CATEGORY, MEMBER), ``subject_id`` its id; for an entry,
    ``user_id`` and ``version`` are the entry's after the change."""

    __tablename__ = "team_events"
    __table_args__ = (Index(None, "occurred_at"),)

    team_id: str = Field(
        sa_column=Column(String(26), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    )
    position: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=16)
    subject: str = Field(max_length=16)
    subject_id: str = Field(max_length=26)
    user_id: str | None = Field(default=None, max_length=26)
    version: int | None = Field(default=None)
    occurred_at: datetime = Field(sa_column=_utc())


class TeamPosition(SQLModel, table=True):
    """The last position given to one of the team's events. Raising it locks the row until
    the transaction ends: a team's events commit in the order of their positions."""

    __tablename__ = "team_positions"

    team_id: str = Field(
        sa_column=Column(String(26), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    )
    position: int = Field(sa_column=Column(BigInteger, nullable=False))


class Webhook(SQLModel, table=True):
    """An endpoint a team's admins registered: the outbox's events of ``kinds`` are POSTed
    to ``url``, signed with ``secret``, in position order (``store.webhooks``).

    ``cursor`` is the last position delivered (or skipped, its kind not wanted);
    ``lease_owner`` / ``lease_until`` say which process delivers now; ``attempt`` counts
    the failed attempts of the next event since ``failing_since``."""

    __tablename__ = "webhooks"

    id: str = Field(sa_column=Column(String(26), primary_key=True))
    team_id: str = Field(sa_column=_fk("teams.id", ondelete="CASCADE"))
    url: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", max_length=500)
    kinds: str = Field(max_length=200)
    secret: str = Field(max_length=80)
    enabled: bool = Field(default=True)
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    cursor: int = Field(sa_column=Column(BigInteger, nullable=False))
    attempt: int = Field(default=0)
    failing_since: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())
    updated_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc())


class WebhookDelivery(SQLModel, table=True):
    """One attempt to deliver one event to one webhook: its answer or error."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index(None, "webhook_id", "id"), Index(None, "at"))

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    webhook_id: str = Field(sa_column=_fk("webhooks.id", ondelete="CASCADE"))
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=16)
    subject: str = Field(max_length=16)
    subject_id: str = Field(max_length=26)
    attempt: int
    status_code: int | None = Field(default=None)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(sa_column=_utc())
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class PersistedQuery(SQLModel, table=True):
    """A GraphQL document by its SHA-256 (automatic persisted queries), for every instance."""

    __tablename__ = "persisted_queries"

    sha256: str = Field(sa_column=Column(String(64), primary_key=True))
    document: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow_precise, sa_column=_utc(index=True))
