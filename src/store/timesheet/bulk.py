"""Bulk edits and imports: ``logTimeEntries``, ``updateTimeEntries``, ``deleteTimeEntries``.

Why a module of its own, and why it holds no rule of an entry: every item is the single
command's own work (:func:`store.timesheet.log_entry`, :func:`update_entry`,
:func:`delete_entry`), so an item is refused exactly when the single mutation would
refuse it, with the same code, and whatever the single commands learn (new inputs, new
checks) the bulk ones do too. What is written here is only what a batch adds: its size,
unique items, the locks of all items taken at once, and the per-item outcome.

Locks (``store.locks``): a batch takes every lock its items need up front, in the one
order, before it applies the first item: the teams (``FOR KEY SHARE``, in id order), the
users whose entries change (in id order), the actor's own memberships, then the entries
(``FOR UPDATE``, in id order). The single functions then take their locks again per item;
on rows this transaction already holds in that mode those are no-ops, and none of them
is new to the transaction, so no item takes a user's lock after an entry's. A single edit
and a batch over the same entries so wait on each other in one order and never deadlock,
and each entry is changed once per change, one transaction after the other.

Each item runs in a SAVEPOINT: a refused item leaves nothing behind (not even the part
of its change applied before its refusal, which a later flush would otherwise write),
whether the batch is all-or-nothing (any refusal: every refusal is reported, nothing is
written) or not (the valid items are written, the refused ones reported). A row lock
taken before a savepoint survives its rollback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks
from store.errors import DomainError, DomainErrors, DomainWarning, ErrorCode, Retry
from store.events import EventLog
from store.ids import parse_ulid
from store.models import Membership, TimeEntry
from store.rules import Field
from store.rules import field as f
from store.timesheet.create import log_entry
from store.timesheet.editing import delete_entry, update_entry
from store.timesheet.inputs import EntryChanges, LogEntry

# Items of one call; a module constant so a test can lower it.
MAX_ITEMS = 500

# An item's work: with its own events and warnings, the entry and whether it was a replay.
Apply = Callable[[EventLog, list[DomainWarning]], Awaitable[tuple[TimeEntry, bool]]]
# Where an item's finding (a refusal or a warning) is reported: its message and field as
# the single command gave them -> as the batch reports them (the item's index in field).
Place = Callable[[str, Field], tuple[str, Field]]


@dataclass
class BulkOutcome:
    """The entries written (or left as they were: a no-op), in input order; the refused
    items (only when not all-or-nothing); the warnings of the written items (the team's
    overlap policy, ``store.overlap``); whether every item was a replay of a create by its
    client id (nothing written)."""

    entries: list[TimeEntry] = field(default_factory=list)
    errors: list[DomainError] = field(default_factory=list)
    warnings: list[DomainWarning] = field(default_factory=list)
    replayed: bool = False


def _check_size(count: int, name: str) -> None:
    if not 1 <= count <= MAX_ITEMS:
        raise DomainError(
            ErrorCode.VALIDATION, f"Give 1 to {MAX_ITEMS} {name} (got {count}).", f(name)
        )


def _check_unique(keys: Sequence[object | None], path: Callable[[int], Field], what: str) -> None:
    """Every item once per call: a repeat (after the first) is VALIDATION naming both
    indexes, and the whole call is refused (which of two changes should win is no rule)."""
    first: dict[object, int] = {}
    errors = []
    for index, key in enumerate(keys):
        if key is None:
            continue
        if key in first:
            errors.append(
                DomainError(
                    ErrorCode.VALIDATION,
                    f"Item {index} repeats the {what} of item {first[key]}: each only once.",
                    path(index),
                )
            )
        else:
            first[key] = index
    if errors:
        raise DomainErrors(errors)


async def _apply_each(
    session: AsyncSession,
    items: Sequence[tuple[Place, Apply]],
    *,
    all_or_nothing: bool,
    events: EventLog,
) -> BulkOutcome:
    """Apply every item in its own SAVEPOINT; a refusal or a warning is reported where
    ``place`` puts it. All-or-nothing: any refusal refuses the call, with every refusal."""
    outcome = BulkOutcome()
    replays = 0
    for place, apply in items:
        own, found = EventLog(), list[DomainWarning]()
        try:
            async with session.begin_nested():
                entry, replayed = await apply(own, found)
        except DomainError as exc:
            outcome.errors.append(_placed_error(place, exc))
            continue
        except DomainErrors as exc:  # a command that reports several refusals at once
            outcome.errors.extend(_placed_error(place, e) for e in exc.errors)
            continue
        events.extend(own)
        outcome.warnings.extend(_placed_warning(place, w) for w in found)
        outcome.entries.append(entry)
        replays += replayed
    if outcome.errors and all_or_nothing:
        raise DomainErrors(outcome.errors)
    outcome.replayed = replays == len(items)
    return outcome


def _placed_error(place: Place, exc: DomainError) -> DomainError:
    message, path = place(exc.message, tuple(exc.field))
    return DomainError(exc.code, message, path)


def _placed_warning(place: Place, warning: DomainWarning) -> DomainWarning:
    message, path = place(warning.message, warning.field)
    return replace(warning, message=message, field=path)


async def _member_teams(session: AsyncSession, actor_id: str, team_ids: set[str]) -> list[str]:
    """The teams (of ``team_ids``) the actor is a member of, in id order: the batch locks
    only those (an item of any other team is refused by the single command: NOT_FOUND)."""
    if not team_ids:
        return []
    stmt = select(Membership.team_id).where(
        Membership.user_id == actor_id, col(Membership.team_id).in_(sorted(team_ids))
    )
    return sorted(set((await session.exec(stmt)).all()))


async def _members_among(session: AsyncSession, teams: list[str], users: set[str]) -> set[str]:
    """Those of ``users`` who are members of one of ``teams``: the batch locks no one
    else (logging for anyone else is refused by the single command)."""
    if not teams or not users:
        return set()
    stmt = select(Membership.user_id).where(
        col(Membership.team_id).in_(teams), col(Membership.user_id).in_(sorted(users))
    )
    return set((await session.exec(stmt)).all())


async def _lock_upfront(
    session: AsyncSession, *, actor_id: str, teams: list[str], users: set[str]
) -> None:
    """``store.locks`` steps 2 and 3 of the whole batch: its teams, its users, the actor's
    own memberships (the entries follow, by the caller)."""
    for team_id in teams:
        await locks.team_for_entries(session, team_id)
    await locks.users(session, users)
    for team_id in teams:
        await locks.own_membership(session, team_id, actor_id)


async def _lock_entries(
    session: AsyncSession, *, actor_id: str, keys: Sequence[str], new_user: str | None = None
) -> None:
    """Lock what changing the entries ``keys`` needs, in ``store.locks``' order: their
    teams, their users (and ``new_user``, whom an update moves them to), the entries."""
    stmt = (
        select(TimeEntry.id, TimeEntry.team_id, TimeEntry.user_id)
        .join(
            Membership,
            (col(Membership.team_id) == col(TimeEntry.team_id))
            & (col(Membership.user_id) == actor_id),
        )
        .where(col(TimeEntry.id).in_(sorted(set(keys))))
    )
    seen = (await session.exec(stmt)).all()
    owners = {user for _, _, user in seen} | ({new_user} if new_user else set())
    teams = sorted({team for _, team, _ in seen})
    await _lock_upfront(session, actor_id=actor_id, teams=teams, users=owners)
    locked = await locks.entries(session, [entry_id for entry_id, _, _ in seen])
    if any(e.user_id not in owners for e in locked.values()):
        raise Retry  # moved to another user between the look and the lock


def _by_id(index: int, entry_id: str) -> Place:
    """A finding of the entry ``ids[index]``, reported on that id (the single command's
    field, when it names a change, stays in the message)."""

    def place(message: str, path: Field) -> tuple[str, Field]:
        named = path[1:] if path[:1] == ("input",) else path
        about = "" if named in ((), ("id",)) else f" ({'.'.join(['changes', *named])})"
        return f"{entry_id}: {message}{about}", f("ids", str(index))

    return place


def _checked_ids(entry_ids: Sequence[str]) -> list[str | None]:
    _check_size(len(entry_ids), "ids")
    keys = [parse_ulid(i) for i in entry_ids]
    _check_unique(keys, lambda i: f("ids", str(i)), "id")
    return keys


async def update_entries(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_ids: Sequence[str],
    changes: EntryChanges,
    all_or_nothing: bool,
    now: datetime,
    events: EventLog,
) -> BulkOutcome:
    """``updateTimeEntry``'s ``changes`` applied to every entry of ``entry_ids``."""
    keys = _checked_ids(entry_ids)
    await _lock_entries(
        session,
        actor_id=actor_id,
        keys=[k for k in keys if k is not None],
        new_user=changes.user_id,
    )

    def item(entry_id: str) -> Apply:
        async def apply(own: EventLog, warnings: list[DomainWarning]) -> tuple[TimeEntry, bool]:
            entry = await update_entry(
                session,
                actor_id=actor_id,
                entry_id=entry_id,
                changes=changes,
                now=now,
                events=own,
                warnings=warnings,
            )
            return entry, False

        return apply

    return await _apply_each(
        session,
        [(_by_id(n, e), item(e)) for n, e in enumerate(entry_ids)],
        all_or_nothing=all_or_nothing,
        events=events,
    )


async def delete_entries(
    session: AsyncSession,
    *,
    actor_id: str,
    entry_ids: Sequence[str],
    all_or_nothing: bool,
    now: datetime,
    events: EventLog,
) -> BulkOutcome:
    """``deleteTimeEntry`` of every entry of ``entry_ids`` (a deleted one stays as it is)."""
    keys = _checked_ids(entry_ids)
    await _lock_entries(session, actor_id=actor_id, keys=[k for k in keys if k is not None])

    def item(entry_id: str) -> Apply:
        async def apply(own: EventLog, _warnings: list[DomainWarning]) -> tuple[TimeEntry, bool]:
            entry = await delete_entry(
                session, actor_id=actor_id, entry_id=entry_id, now=now, events=own
            )
            return entry, False

        return apply

    return await _apply_each(
        session,
        [(_by_id(n, e), item(e)) for n, e in enumerate(entry_ids)],
        all_or_nothing=all_or_nothing,
        events=events,
    )


def _in_entries(index: int) -> Place:
    """A finding of ``entries[index]``, on that item's field (the single command's path
    below ``input``)."""

    def place(message: str, path: Field) -> tuple[str, Field]:
        below = path[1:] if path[:1] == ("input",) else path
        return message, f("entries", str(index), *below)

    return place


async def _external_holders(
    session: AsyncSession, items: Sequence[LogEntry]
) -> dict[tuple[str, str | None, str | None, str | None], tuple[str, str]]:
    """(team, provider, type, external id) -> (entry id, user id) of the entries that hold
    the items' external references now, in one statement."""
    refs = {
        (d.team_id, r.provider, r.external_type, r.external_id)
        for d in items
        if (r := d.external_ref) is not None
    }
    if not refs:
        return {}
    stmt = (
        select(TimeEntry)
        .where(
            tuple_(
                col(TimeEntry.team_id),
                col(TimeEntry.ext_provider),
                col(TimeEntry.ext_type),
                col(TimeEntry.ext_id),
            ).in_(sorted(refs))
        )
        .execution_options(populate_existing=True)
    )
    found = (await session.exec(stmt)).all()
    return {(e.team_id, e.ext_provider, e.ext_type, e.ext_id): (e.id, e.user_id) for e in found}


async def log_entries(
    session: AsyncSession,
    *,
    actor_id: str,
    items: Sequence[tuple[LogEntry, str]],
    all_or_nothing: bool,
    now: datetime,
    events: EventLog,
) -> BulkOutcome:
    """``logTimeEntry`` of every item: (what to log, the request hash a ``logTimeEntry``
    of that item alone would have, so a client id repeated here or there is the same
    create)."""
    _check_size(len(items), "entries")
    data = [d for d, _ in items]
    _check_unique(
        [parse_ulid(d.entry_id) if d.entry_id is not None else None for d in data],
        lambda i: f("entries", str(i), "id"),
        "id",
    )
    _check_unique(
        [
            (d.team_id, r.provider, r.external_type, r.external_id)
            if (r := d.external_ref) is not None
            else None
            for d in data
        ],
        lambda i: f("entries", str(i), "externalRef"),
        "externalRef",
    )
    # An item's external reference names the entry it updates, whose user is locked too.
    holders = await _external_holders(session, data)
    teams = await _member_teams(session, actor_id, {d.team_id for d in data})
    users = await _members_among(session, teams, {d.user_id or actor_id for d in data})
    users |= {u for _, u in holders.values()}
    await _lock_upfront(session, actor_id=actor_id, teams=teams, users=users)
    await locks.entries(session, [entry_id for entry_id, _ in holders.values()])
    if await _external_holders(session, data) != holders:
        raise Retry  # a reference taken or moved between the look and the lock

    def item(entry: LogEntry, digest: str) -> Apply:
        async def apply(own: EventLog, warnings: list[DomainWarning]) -> tuple[TimeEntry, bool]:
            return await log_entry(
                session,
                actor_id=actor_id,
                data=entry,
                now=now,
                digest=digest,
                events=own,
                warnings=warnings,
            )

        return apply

    return await _apply_each(
        session,
        [(_in_entries(n), item(d, digest)) for n, (d, digest) in enumerate(items)],
        all_or_nothing=all_or_nothing,
        events=events,
    )
