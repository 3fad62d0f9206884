"""What the entry commands are asked to do, as plain values, and the checks of their parts
that need no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from store.durations import resolve_duration
from store.errors import DomainError, ErrorCode
from store.models import InputType, Source
from store.rules import field as f

EXT_LIMITS = {"provider": 100, "externalType": 100, "externalId": 255}


@dataclass(frozen=True)
class ExternalRefInput:
    provider: str
    external_type: str
    external_id: str


@dataclass(frozen=True)
class Scope:
    task_id: str | None = None
    category_id: str | None = None

    def given(self) -> bool:
        return self.task_id is not None or self.category_id is not None


@dataclass(frozen=True)
class HowLong:
    """The ways to say how long; the first given wins (contract order)."""

    duration_seconds: int | None = None
    minutes: int | None = None
    hours: str | None = None
    duration: str | None = None
    stopped_at: datetime | None = None

    def given(self) -> bool:
        return any(
            v is not None
            for v in (
                self.duration_seconds,
                self.minutes,
                self.hours,
                self.duration,
                self.stopped_at,
            )
        )

    def seconds(self, started_at: datetime) -> int:
        return resolve_duration(
            duration_seconds=self.duration_seconds,
            minutes=self.minutes,
            hours=self.hours,
            duration=self.duration,
            stopped_at=self.stopped_at,
            started_at=started_at,
        )


@dataclass(frozen=True)
class LogEntry:
    team_id: str
    scope: Scope
    how_long: HowLong
    entry_id: str | None = None
    user_id: str | None = None
    started_at: datetime | None = None
    work_date: date | None = None
    description: str | None = None
    billable: bool | None = None
    input_type: str = InputType.MANUAL.value
    source: str = Source.API.value
    external_ref: ExternalRefInput | None = None
    tag_ids: tuple[str, ...] | None = None  # store.tags.set_entry_tags


UNSET: object = object()


@dataclass
class EntryChanges:
    """What an update changes; fields left at UNSET stay as they are."""

    expected_version: int | None = None
    scope: Scope | None = None
    user_id: str | None = None
    started_at: datetime | None = None
    work_date: date | None = None
    how_long: HowLong = field(default_factory=HowLong)
    description: object = UNSET  # str | None
    billable: bool | None = None
    input_type: str | None = None
    source: str | None = None
    external_ref: ExternalRefInput | None = None
    team_id: str | None = None
    tag_ids: tuple[str, ...] | None = None  # None: unchanged; (): none


def check_external_ref(ref: ExternalRefInput) -> None:
    for name, value in (
        ("provider", ref.provider),
        ("externalType", ref.external_type),
        ("externalId", ref.external_id),
    ):
        if not value.strip() or len(value) > EXT_LIMITS[name]:
            raise DomainError(
                ErrorCode.VALIDATION,
                f"{name} must be 1 to {EXT_LIMITS[name]} characters.",
                f("externalRef", name),
            )


def check_enum(value: str, allowed: type[InputType] | type[Source], name: str) -> None:
    if value not in allowed.__members__:
        raise DomainError(ErrorCode.VALIDATION, f"Unknown {name} {value!r}.", f(name))
