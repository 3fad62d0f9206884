"""Change history of time entries (``entry_changes``): every committed change of an entry,
recorded in the transaction that makes it.

One mechanism records every ORM write, so a new command cannot forget it: a ``before_flush``
listener on every Session diffs each new and changed ``TimeEntry`` against its values as
this transaction found them (SQLAlchemy's attribute history) and adds or updates ONE change
row per entry and transaction. The actor comes from ``session.info`` (:func:`set_actor`,
set by the mutation runner for its viewer); without one the change is the server's (the
sweep that stops timers at their team's limit). The kind of change (:func:`action_of`) and
the changed fields (:func:`field_changes`) are derived from the values alone, and the one
write that bypasses the ORM (``store.entry_writes``, the compiled ``logTimeEntry``) builds
its row with the same function (:func:`change_values`).

Values are kept as the API shows them (GraphQL field names; instants ISO-8601 UTC in whole
seconds, dates ``YYYY-MM-DD``, integers in decimal, booleans ``true``/``false``, null as
null): a history reads the same whatever the storage, and a column renamed later does not
rewrite the past. A value that is not a column (``tagIds``) is added with
:func:`note_change`.

Hand-written rather than a versioning library (sqlalchemy-continuum, sqlalchemy-history):
those copy whole rows into shadow tables, need their own mapper set-up and know neither
the API's field names nor the actor of a GraphQL request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from store.ids import new_id
from store.models import EntryAction, EntryChange, TimeEntry
from store.timeutil import format_instant, utcnow_precise

# The recorded columns, by the API field that shows them (in the order a change lists them).
FIELDS: dict[str, str] = {
    "user_id": "userId",
    "scope_type": "scopeType",
    "task_id": "taskId",
    "category_id": "categoryId",
    "started_at": "startedAt",
    "stopped_at": "stoppedAt",
    "duration_seconds": "durationSeconds",
    "work_date": "workDate",
    "description": "description",
    "billable": "billable",
    "rate_snapshot_cents": "rateSnapshotCents",
    "status": "status",
    "input_type": "inputType",
    "source": "source",
    "ext_provider": "externalRef.provider",
    "ext_type": "externalRef.externalType",
    "ext_id": "externalRef.externalId",
    "locked_at": "lockedAt",
    "deleted_at": "deletedAt",
    "auto_stopped": "autoStopped",
}
# Columns not recorded, each with its reason (a test checks that every column is in one).
UNRECORDED: dict[str, str] = {
    "id": "the entry's identity",
    "team_id": "entries never move between teams",
    "version": "bookkeeping: grows with every recorded change",
    "created_at": "bookkeeping: the CREATED change's instant",
    "updated_at": "bookkeeping: each change's instant",
    "request_hash": "idempotency bookkeeping",
    "frozen_rounded_seconds": "set with the LOCKED transition, which is recorded",
    "frozen_amount_cents": "set with the LOCKED transition, which is recorded",
}
# The columns whose change alone is a status transition (the workflow sets them).
_TRANSITION = frozenset({"status", "locked_at"})
ACTOR = "punchclock.history.actor"
_PENDING = "punchclock.history.pending"

Change = dict[str, str | None]


def api_value(value: Any) -> str | None:
    """A stored value as the API shows it, as a string (null stays null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(sorted(str(v) for v in value))
    return str(value)


def field_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[Change]:
    """``{field, from, to}`` of every recorded column whose shown value differs between
    ``before`` (None: a new entry, every value was null) and ``after``, by column name."""
    out: list[Change] = []
    for column, name in FIELDS.items():
        old = api_value(before.get(column) if before is not None else None)
        new = api_value(after.get(column))
        if old != new:
            out.append({"field": name, "from": old, "to": new})
    return out


def action_of(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> EntryAction:
    """What kind of change turned ``before`` (None: nothing) into ``after``."""
    if before is None:
        return EntryAction.CREATED
    if before.get("deleted_at") is None and after.get("deleted_at") is not None:
        return EntryAction.DELETED
    if before.get("deleted_at") is not None and after.get("deleted_at") is None:
        return EntryAction.RESTORED
    if before.get("stopped_at") is None and after.get("stopped_at") is not None:
        return EntryAction.AUTO_STOPPED if after.get("auto_stopped") else EntryAction.STOPPED
    changed = {c for c in FIELDS if api_value(before.get(c)) != api_value(after.get(c))}
    if changed and changed <= _TRANSITION:
        return EntryAction.TRANSITIONED
    return EntryAction.UPDATED


def change_values(
    *,
    entry_id: str,
    team_id: str,
    actor_id: str | None,
    at: datetime,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    extra: Sequence[Change] = (),
) -> dict[str, Any] | None:
    """The columns of the change row of an entry that went from ``before`` to ``after``
    (and the non-column ``extra`` changes); None when nothing shown changed. The ORM
    listener and the compiled write both build their rows here."""
    changes = field_changes(before, after) + list(extra)
    if not changes:
        return None
    action = action_of(before, after)
    return {
        "id": new_id(),
        "entry_id": entry_id,
        "team_id": team_id,
        "user_id": actor_id,
        "at": at,
        "action": action.value,
        "changes": changes,
    }


def set_actor(session: Any, user_id: str | None) -> None:
    """Who makes the changes of ``session``'s transactions (None: the server)."""
    session.info[ACTOR] = user_id


@dataclass
class _Pending:
    """An entry changed in the current transaction: its values as the transaction found
    them (None: new), and its change row once there is one."""

    entry: TimeEntry
    before: dict[str, Any] | None
    row: EntryChange | None = None
    extra: dict[str, Change] = field(default_factory=dict)


def _values(entry: TimeEntry) -> dict[str, Any]:
    return {c: getattr(entry, c) for c in (*FIELDS, "updated_at")}


def _found_values(entry: TimeEntry) -> dict[str, Any]:
    """The entry's values before this flush's changes (SQLAlchemy's attribute history)."""
    attrs = inspect(entry).attrs
    out: dict[str, Any] = {}
    for column in (*FIELDS, "updated_at"):
        history = attrs[column].history
        if history.deleted:
            out[column] = history.deleted[0]
        elif history.unchanged:
            out[column] = history.unchanged[0]
        else:  # not loaded before it was set: as it is (nothing to compare)
            out[column] = getattr(entry, column)
    return out


def _pending(session: Session) -> dict[str, _Pending]:
    found: dict[str, _Pending] = session.info.setdefault(_PENDING, {})
    return found


def note_change(session: Any, entry: TimeEntry, name: str, before: Any, after: Any) -> None:
    """Record a change of a value that is not a column of the entry (e.g. ``tagIds``;
    lists are shown as their sorted items joined by commas) in the entry's change row of
    the current transaction, with the entry's column changes before or after the call;
    written with the next flush (``run_mutation`` flushes before it commits). Equal
    values record nothing; a value changed twice keeps its first ``from``."""
    sync: Session = getattr(session, "sync_session", session)
    old, new = api_value(before), api_value(after)
    pending = _pending(sync)
    state = pending.get(entry.id)
    if state is None:  # its values as found: changes made but not flushed yet count too
        found = None if inspect(entry).pending else _found_values(entry)
        state = pending[entry.id] = _Pending(entry, found)
    first = state.extra.get(name, {"from": old})["from"]
    if first == new:
        state.extra.pop(name, None)
    else:
        state.extra[name] = {"field": name, "from": first, "to": new}
    _record(sync, state)


def _record(session: Session, state: _Pending) -> None:
    """Add, update or drop the entry's change row for the transaction so far."""
    entry = state.entry
    after = _values(entry)
    before_at = state.before.get("updated_at") if state.before is not None else None
    moved = state.before is None or after["updated_at"] != before_at
    values = change_values(
        entry_id=entry.id,
        team_id=entry.team_id,
        actor_id=session.info.get(ACTOR),
        at=entry.updated_at if moved else utcnow_precise(),
        before=state.before,
        after=after,
        extra=list(state.extra.values()),
    )
    row = state.row
    if values is None:
        if row is not None:  # changed back within the transaction: nothing to record
            if inspect(row).persistent:
                session.delete(row)
            else:
                session.expunge(row)
            state.row = None
        return
    if row is None:
        state.row = EntryChange(**values)
        session.add(state.row)
        return
    row.action, row.changes, row.at = values["action"], values["changes"], values["at"]


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: object) -> None:
    pending = _pending(session)
    touched: list[_Pending] = []
    for obj in session.new:
        if isinstance(obj, TimeEntry):
            state = pending.get(obj.id)
            if state is None:
                state = pending[obj.id] = _Pending(obj, None)
            touched.append(state)
    for obj in session.dirty:
        if isinstance(obj, TimeEntry) and session.is_modified(obj):
            state = pending.get(obj.id)
            if state is None:
                state = pending[obj.id] = _Pending(obj, _found_values(obj))
            touched.append(state)
    for obj in session.deleted:
        if isinstance(obj, TimeEntry):  # a hard delete: its history goes with it
            gone = pending.pop(obj.id, None)
            if gone is not None and gone.row is not None and not inspect(gone.row).persistent:
                session.expunge(gone.row)
    for state in touched:
        _record(session, state)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _end(session: Session) -> None:
    session.info.pop(_PENDING, None)


__all__ = [
    "ACTOR",
    "FIELDS",
    "UNRECORDED",
    "action_of",
    "api_value",
    "change_values",
    "field_changes",
    "note_change",
    "set_actor",
]
