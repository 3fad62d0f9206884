"""Webhooks of a team and their delivery log.

A webhook follows its team's outbox (``store.outbox``) with a ``cursor``: the last
position delivered, or skipped because its kind is not one the webhook wants. Events go
out one at a time, in position order, and the cursor moves past an event only after the
endpoint answered 2xx: at least once, in order per webhook (so per entry).

Who delivers: a process *leases* a webhook (:func:`lease_due`: ``SELECT … FOR UPDATE SKIP
LOCKED`` of due rows, then an ``UPDATE`` that sets ``lease_owner`` and ``lease_until``,
conditional on no live lease), so several instances on PostgreSQL share the webhooks and
never send to one at the same time. Every later write of the deliverer
(:func:`succeeded`, :func:`failed`, :func:`skipped`, :func:`release`) is conditional on
still holding the lease and renews it; a process that lost its lease (it stalled past
``lease_until``, or an admin deleted the webhook) stops. A process killed mid-send
leaves its lease to expire: the next owner resends the event that was in flight (the one
duplicate at-least-once allows). On SQLite the same statements run (without the locking
clause); one process delivers.

Locks (``store.locks``): the admin commands take the team row (step 2, as catalogue
changes do) and then the webhook row; the deliverer locks webhook rows only, never a row
of the write path's order, so it waits for nobody's entries and nobody waits for it
beyond one short statement.

Failures retry with capped exponential backoff and jitter (:func:`backoff`) for the
policy's window from the first failure of the current event; then the webhook is disabled
with a reason.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy import select as core_select
from sqlalchemy import update as sql_update
from sqlmodel import col, delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, outbox
from store.accounts import _admin_membership
from store.errors import DomainError, ErrorCode
from store.events import CatalogKind, EntryEvent, EventKind
from store.ids import new_id
from store.models import TeamPosition, Webhook, WebhookDelivery
from store.paging import PROBE, Window, cut, page_selects, union

KINDS: frozenset[str] = frozenset(k.value for k in (*EventKind, *CatalogKind))
MAX_DESCRIPTION = 500
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff of failed deliveries: ``base`` doubling per attempt up to ``cap``, with
    jitter; after ``window`` of failures since the first, the webhook is disabled."""

    base: timedelta
    cap: timedelta
    window: timedelta


def backoff(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> timedelta:
    """The wait after failed attempt ``attempt`` (1, 2, …): ``base * 2**(attempt-1)``
    capped at ``cap``, then "equal jitter": a uniform draw from its upper half, so
    retries of many webhooks spread out but none comes sooner than half the step."""
    step = min(policy.cap, policy.base * 2 ** min(attempt - 1, 40))
    draw = (rng or random).uniform(0.5, 1.0)
    wait: timedelta = step * draw
    return wait


def new_secret() -> str:
    """A signing secret, shown once at creation: ``whsec_`` and 64 hex digits."""
    return "whsec_" + secrets.token_hex(32)


def kinds_of(row: Webhook) -> list[str]:
    return [k for k in row.kinds.split(",") if k]


def wants(row: Webhook, event: EntryEvent) -> bool:
    return event.kind.value in kinds_of(row)


def _check_kinds(kinds: Sequence[str]) -> str:
    chosen = sorted(set(kinds))
    if not chosen or not set(chosen) <= KINDS:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"kinds must name at least one of {', '.join(sorted(KINDS))}.",
            ("input", "kinds"),
        )
    return ",".join(chosen)


def _check_description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"description is at most {MAX_DESCRIPTION} characters.",
            ("input", "description"),
        )
    return text


async def create(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    url: str,
    kinds: Sequence[str],
    description: str,
    now: datetime,
) -> Webhook:
    """Register a webhook of a team the actor administers. It delivers the events that
    commit after it: its cursor starts at the team's last position."""
    await _admin_membership(session, team_id=team_id, actor_id=actor_id)
    last = await outbox.last_position(session, team_id)
    row = Webhook(
        id=new_id(),
        team_id=team_id,
        url=url,
        description=_check_description(description),
        kinds=_check_kinds(kinds),
        secret=new_secret(),
        cursor=last,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def _administered(session: AsyncSession, *, actor_id: str, webhook_id: str) -> Webhook:
    """The webhook, locked, after its team (``store.locks`` step 2); NOT_FOUND for anyone
    but its team's members, FORBIDDEN for members who are not admins."""
    found = await session.get(Webhook, webhook_id)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such webhook.", ("input", "id"))
    try:
        await _admin_membership(session, team_id=found.team_id, actor_id=actor_id)
    except DomainError as exc:
        message = "No such webhook." if exc.code is ErrorCode.NOT_FOUND else exc.message
        raise DomainError(exc.code, message, ("input", "id")) from exc
    row = await locks.catalogue_row(session, Webhook, webhook_id)
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such webhook.", ("input", "id"))
    return row


UNSET: Any = object()


async def update(
    session: AsyncSession,
    *,
    actor_id: str,
    webhook_id: str,
    now: datetime,
    url: str = UNSET,
    kinds: Sequence[str] = UNSET,
    description: str = UNSET,
    enabled: bool = UNSET,
) -> Webhook:
    """Change a webhook. Enabling it again clears its failures and reason: it resumes
    from its cursor (events pruned meanwhile are not delivered)."""
    row = await _administered(session, actor_id=actor_id, webhook_id=webhook_id)
    if url is not UNSET:
        row.url = url
    if kinds is not UNSET:
        row.kinds = _check_kinds(kinds)
    if description is not UNSET:
        row.description = _check_description(description)
    if enabled is not UNSET and enabled != row.enabled:
        row.enabled = enabled
        row.disabled_reason = None if enabled else "Disabled by an admin."
        row.attempt, row.failing_since, row.next_attempt_at = 0, None, None
    row.updated_at = now
    session.add(row)
    await session.flush()
    return row


async def remove(session: AsyncSession, *, actor_id: str, webhook_id: str) -> str:
    """Delete a webhook and its delivery log; a delivery in flight is not recorded."""
    row = await _administered(session, actor_id=actor_id, webhook_id=webhook_id)
    await session.delete(row)
    await session.flush()
    return webhook_id


async def of_team(session: AsyncSession, *, team_id: str) -> list[Webhook]:
    stmt = select(Webhook).where(Webhook.team_id == team_id).order_by(col(Webhook.id))
    return list((await session.exec(stmt)).all())


async def deliveries(
    session: AsyncSession, *, webhook_id: str, window: Window
) -> tuple[list[Any], bool, bool]:
    """A page of a webhook's delivery attempts, newest first (``store.paging``: one
    statement); whether a page follows and whether one precedes. Cursors are ``(id,)``."""
    table = WebhookDelivery.__table__  # type: ignore[attr-defined]
    order = ((table.c.id, True),)
    parts = page_selects(core_select(*table.c), order, [table.c.webhook_id == webhook_id], window)
    connection = await session.connection()
    rows = [dict(r._mapping) for r in (await connection.execute(union(parts))).all()]
    page, has_next, has_previous = cut(
        rows, window, probe=lambda r: r[PROBE], key=lambda r: r["id"], descending=True
    )
    found = [WebhookDelivery(**{k: v for k, v in r.items() if k != PROBE}) for r in page]
    return found, has_next, has_previous


async def count_deliveries(session: AsyncSession, *, webhook_id: str) -> int:
    stmt = select(func.count()).where(WebhookDelivery.webhook_id == webhook_id)
    return int((await session.exec(stmt)).one())


async def prune_deliveries(session: AsyncSession, *, before: datetime) -> int:
    """Drop delivery attempts older than ``before`` (the retention)."""
    result = await session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.at) < before))
    return int(result.rowcount or 0)


# The deliverer's side.


def _free(now: datetime) -> Any:
    return or_(col(Webhook.lease_until).is_(None), col(Webhook.lease_until) < now)


def _due(now: datetime) -> Any:
    """Webhooks with work: enabled, events past their cursor, no retry waiting, no live
    lease. One statement (the join) for :func:`any_due` and :func:`lease_due` alike."""
    return (
        select(Webhook.id)
        .join(TeamPosition, col(TeamPosition.team_id) == col(Webhook.team_id))
        .where(
            col(Webhook.enabled),
            col(TeamPosition.position) > col(Webhook.cursor),
            or_(col(Webhook.next_attempt_at).is_(None), col(Webhook.next_attempt_at) <= now),
            _free(now),
        )
    )


async def any_due(session: AsyncSession, *, now: datetime) -> bool:
    """Whether some webhook has work (a read: an idle deliverer polls with it, and opens a
    write transaction only when this says so)."""
    return (await session.exec(_due(now).limit(1))).first() is not None


async def lease_due(
    session: AsyncSession, *, owner: str, now: datetime, until: datetime, limit: int
) -> list[Webhook]:
    """Lease up to ``limit`` webhooks that have work (:func:`_due`); a row another process
    is leasing right now is skipped, not waited for. Commit right after."""
    pick = (
        _due(now)
        .order_by(col(Webhook.next_attempt_at).nulls_first(), col(Webhook.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Webhook)
    )
    ids = list((await session.exec(pick)).all())
    if not ids:
        return []
    await session.exec(
        sql_update(Webhook)
        .where(col(Webhook.id).in_(ids), _free(now))
        .values(lease_owner=owner, lease_until=until)
    )
    mine = (
        select(Webhook)
        .where(col(Webhook.id).in_(ids), col(Webhook.lease_owner) == owner)
        .execution_options(populate_existing=True)
    )
    return list((await session.exec(mine)).all())


def _held(webhook_id: str, owner: str) -> Any:
    return and_(col(Webhook.id) == webhook_id, col(Webhook.lease_owner) == owner)


def _log(webhook_id: str, event: EntryEvent, attempt: int, **fields: Any) -> WebhookDelivery:
    assert event.position is not None
    return WebhookDelivery(
        webhook_id=webhook_id,
        position=event.position,
        kind=event.kind.value,
        subject=event.subject.value,
        subject_id=event.entry_id,
        attempt=attempt,
        **fields,
    )


async def _conditional(session: AsyncSession, stmt: Any) -> bool:
    return bool((await session.exec(stmt)).rowcount)


async def succeeded(
    session: AsyncSession,
    *,
    hook: Webhook,
    owner: str,
    event: EntryEvent,
    status_code: int,
    now: datetime,
    until: datetime,
) -> bool:
    """The endpoint took ``event``: the cursor moves past it, the failures are cleared,
    the lease renewed. False (nothing written) when the lease is no longer ours."""
    stmt = (
        sql_update(Webhook)
        .where(_held(hook.id, owner))
        .values(
            cursor=event.position,
            attempt=0,
            failing_since=None,
            next_attempt_at=None,
            lease_until=until,
        )
    )
    if not await _conditional(session, stmt):
        return False
    session.add(_log(hook.id, event, hook.attempt + 1, status_code=status_code, at=now))
    hook.cursor, hook.attempt, hook.failing_since = event.position or 0, 0, None
    return True


async def failed(
    session: AsyncSession,
    *,
    hook: Webhook,
    owner: str,
    event: EntryEvent,
    status_code: int | None,
    error: str,
    now: datetime,
    policy: RetryPolicy,
) -> bool:
    """The endpoint refused ``event`` or could not be reached: the next attempt waits
    (:func:`backoff`), or, failing for the whole window, the webhook is disabled. The
    cursor moves to just before the event (what came before was delivered or skipped)
    and the lease is given up. False when the lease was no longer ours."""
    assert event.position is not None
    attempt = hook.attempt + 1
    since = hook.failing_since or now
    values: dict[str, Any] = {
        "cursor": event.position - 1,
        "attempt": attempt,
        "failing_since": since,
        "lease_owner": None,
        "lease_until": None,
    }
    next_at: datetime | None = None
    if now - since >= policy.window:
        values.update(
            enabled=False,
            next_attempt_at=None,
            disabled_reason=(
                f"Failing since {since.isoformat()} ({attempt} attempts); last: {error}"[:MAX_ERROR]
            ),
        )
    else:
        next_at = now + backoff(attempt, policy)
        values["next_attempt_at"] = next_at
    if not await _conditional(
        session, sql_update(Webhook).where(_held(hook.id, owner)).values(**values)
    ):
        return False
    session.add(
        _log(
            hook.id,
            event,
            attempt,
            status_code=status_code,
            error=error[:MAX_ERROR],
            at=now,
            next_attempt_at=next_at,
        )
    )
    return True


async def skipped(
    session: AsyncSession, *, hook: Webhook, owner: str, position: int, until: datetime
) -> bool:
    """Events up to ``position`` are not of a wanted kind: move the cursor past them."""
    stmt = (
        sql_update(Webhook)
        .where(_held(hook.id, owner), col(Webhook.cursor) < position)
        .values(cursor=position, lease_until=until)
    )
    if not await _conditional(session, stmt):
        return False
    hook.cursor = position
    return True


async def release(session: AsyncSession, *, webhook_id: str, owner: str) -> None:
    """Give up the lease (nothing left to send for now)."""
    await session.exec(
        sql_update(Webhook)
        .where(_held(webhook_id, owner))
        .values(lease_owner=None, lease_until=None)
    )
