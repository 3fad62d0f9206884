"""How every mutation runs: one write transaction, idempotency, retries, events after commit."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import strawberry
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Context
from store import history, idempotency, outbox
from store.errors import DomainError, DomainErrors, ErrorCode, Retry
from store.events import EventLog
from store.models import Category, Comment, Tag, Task, Team, TimeEntry, User
from store.timeutil import utcnow

log = logging.getLogger("punchclock.mutations")

ATTEMPTS = 6


@dataclass
class Outcome:
    """What a mutation did: JSON-able ids (stored for replays) and the rows it touched."""

    result: dict[str, Any]
    rows: Sequence[SQLModel] = ()
    replayed: bool = False
    # What this run answers once and no replay may: never stored (a new token's secret).
    once: dict[str, Any] = field(default_factory=dict)


@dataclass
class Done:
    outcome: Outcome | None
    errors: list[DomainError] = field(default_factory=list)

    @property
    def replayed(self) -> bool:
        return self.outcome is not None and self.outcome.replayed


Work = Callable[[AsyncSession, EventLog, str], Awaitable[Outcome]]


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """The fields ``plain`` hashes of a dataclass (None: not a dataclass), once per class:
    inputs are a few classes, and ``dataclasses.fields`` costs more than the rest."""
    if cls not in _FIELD_NAMES:
        _FIELD_NAMES[cls] = (
            tuple(f.name for f in dataclasses.fields(cls) if f.name != "idempotency_key")
            if dataclasses.is_dataclass(cls)
            else None
        )
    return _FIELD_NAMES[cls]


def plain(value: Any) -> Any:
    """A canonical JSON-able form of an input (for the request hash)."""
    if value is strawberry.UNSET or value is None:
        return None
    names = _field_names(type(value))
    if names is not None:
        out = {}
        for name in names:
            item = getattr(value, name)
            if item is not strawberry.UNSET:
                out[name] = plain(item)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _retryable(exc: DBAPIError) -> bool:
    """Races the database resolved for us: a unique key taken by a concurrent commit,
    a deadlock, a serialization failure. The whole transaction runs again."""
    if isinstance(exc, IntegrityError):
        return True
    text = str(exc.orig).lower() if exc.orig is not None else ""
    return "deadlock" in text or "serializ" in text or "could not serialize" in text


async def run_mutation(
    info: strawberry.Info[Context, None], *, name: str, input: Any, work: Work
) -> Done:
    """The mutation's outcome: run once, or the outcome of its run on the compiled path
    when standard execution answers the payload (``Context.replay_dones``)."""
    ctx = info.context
    if ctx.replay_dones:
        return ctx.replay_dones.pop(0)  # type: ignore[no-any-return]
    done = await _run(ctx, name=name, input=input, work=work)
    if ctx.dones is not None:
        ctx.dones.append(done)
    return done


async def _run(ctx: Context, *, name: str, input: Any, work: Work) -> Done:
    key = getattr(input, "idempotency_key", None)
    if key is not None and not 1 <= len(key) <= idempotency.MAX_KEY_LENGTH:
        return Done(
            None,
            [
                DomainError(
                    ErrorCode.VALIDATION,
                    f"idempotencyKey must be 1 to {idempotency.MAX_KEY_LENGTH} characters.",
                    ("input", "idempotencyKey"),
                )
            ],
        )
    digest = idempotency.request_hash(name, plain(input))
    user_id = ctx.viewer_id
    for attempt in range(ATTEMPTS):
        events = EventLog()
        try:
            async with ctx.db.write() as session:
                history.set_actor(session, user_id)  # the actor of its recorded changes
                now = utcnow()
                record = None
                if key is not None:
                    # Keys are nearly always new: claim first, and look the record up only
                    # when the key is taken (a concurrent repeat waited here for the first
                    # to commit); an expired record is cleared by find() and claimed anew.
                    record = await idempotency.claim(
                        session, user_id=user_id, mutation=name, key=key, digest=digest, now=now
                    )
                    if record is None:
                        found = await idempotency.find(
                            session, user_id=user_id, mutation=name, key=key, now=now
                        )
                        if found is not None:
                            if found.request_hash != digest:
                                return Done(None, [_key_conflict()])
                            await session.commit()
                            return Done(
                                Outcome(idempotency.stored_result(found.response), replayed=True)
                            )
                        record = await idempotency.claim(
                            session, user_id=user_id, mutation=name, key=key, digest=digest, now=now
                        )
                        if record is None:  # cleared and taken again meanwhile: start over
                            raise Retry
                outcome = await work(session, events, digest)
                if record is not None:
                    await idempotency.complete(session, record, outcome.result)
                # Every pending change is written before the events take the team's
                # counter (store.outbox), and nothing runs between those and the commit:
                # the counter is a lock every writer of the team waits on.
                await session.flush()
                await outbox.append(session, events)
                await session.commit()
        except DomainErrors as exc:
            return Done(None, exc.errors)
        except DomainError as exc:
            return Done(None, [exc])
        except (DBAPIError, Retry) as exc:
            if (isinstance(exc, DBAPIError) and not _retryable(exc)) or attempt == ATTEMPTS - 1:
                raise
            log.info("%s: retrying after %s (attempt %d)", name, type(exc).__name__, attempt + 1)
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
            continue
        _prime(ctx, outcome.rows)
        if events:
            await ctx.services.events.publish(events)
        return Done(outcome)
    raise AssertionError("unreachable")


def _key_conflict() -> DomainError:
    return DomainError(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        "This idempotencyKey was used with a different input.",
        ("input", "idempotencyKey"),
    )


def _prime(ctx: Context, rows: Sequence[SQLModel]) -> None:
    loaders = ctx.loaders
    for row in rows:
        if isinstance(row, TimeEntry):
            loaders.entry.prime(row.id, row, force=True)
            if "entry_tags" in vars(loaders):  # read earlier in the request: read again
                loaders.entry_tags.clear(row.id)
        elif isinstance(row, Team):
            loaders.team.prime(row.id, row, force=True)
        elif isinstance(row, Task):
            loaders.task.prime(row.id, row, force=True)
        elif isinstance(row, Category):
            loaders.category.prime(row.id, row, force=True)
        elif isinstance(row, User):
            loaders.user.prime(row.id, row, force=True)
        elif isinstance(row, Comment):
            loaders.comment.prime(row.id, row, force=True)
        elif isinstance(row, Tag):
            loaders.tag.prime(row.id, row, force=True)
            if "team_tags" in vars(loaders):
                loaders.team_tags.clear(row.team_id)
