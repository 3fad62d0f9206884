"""The overlap policy of a team (issue 20, item 4): whether a write may make two live
entries of one user overlap.

The one rule is :func:`overlapping`: which of the user's own live (not deleted) entries
of the team overlap a given interval of that user. Every write that creates an entry or
moves its interval or its owner asks it through :func:`check`, under the team's policy
(``Team.overlap_policy``): ALLOW asks nothing, WARN adds a :class:`DomainWarning` per
overlapping entry to the caller's list (the payload's ``warnings``; a bulk write passes
one list per item), REFUSE raises OVERLAP naming each overlapping entry, before anything
is committed.

The intervals:

- an entry occupies the half-open ``[startedAt, stoppedAt)``: an entry that ends at the
  instant the next one starts does not overlap it (a timer switch stops the running
  entry at exactly the new one's start);
- a running timer occupies ``[startedAt, startedAt + the team's maxTimerHours)``: the
  most it can ever occupy, since it is stopped by then at the latest (by its user, or by
  the server's sweep at exactly that instant). Stopping a timer, by anyone, only shrinks
  its interval, so no stop can create an overlap, and the stops (``stopTimer``, the sweep,
  a member's removal, an archive), which could not refuse anyway, need no check. The
  price: a timer conflicts with a planned entry within its team's limit after its start
  (in a team with REFUSE, log the planned entry once the timer stopped). Not ``[start,
  ∞)``: a timer cannot run past its limit, and an endless interval would conflict with
  every later entry. Not ``[start, now)``: the stop would then move the end, unchecked.

Whose entries: the user's own, in the same team. A team's policy is a rule of that team
(Clockify's "prevent overlapping entries" is a workspace setting, applied within the
workspace), and an entry of another team is not the business of this one: naming it in
a refusal would show an admin who logs for a member an entry of a team the admin may not
belong to. (A user has at most one running timer across all teams anyway.)

Atomic with concurrent writers: every write of a user's entries holds the user's row lock
(``store.locks`` step 3, ``FOR NO KEY UPDATE``) when it asks, so on PostgreSQL's READ
COMMITTED the question reads every committed entry of the user and no other write of the
user's entries commits before this one. The compiled ``logTimeEntry`` path
(``store.entry_writes``) takes no user lock: it handles ALLOW teams only.

A change of the policy applies to writes that begin after it commits; it does not look
at entries already stored. Nor does a change of ``maxTimerHours``: raising it lets a
timer that runs already reach past what it was checked for (its team's admin chose so);
lowering it only shrinks every timer.

Replays: a repeat of an idempotency key answers the warnings stored with the first
result (``gql.schema.mutations.runner``); a repeat of a create by its client-chosen id
has no stored answer, and :func:`replay_warnings` answers the stored entry's overlaps as
they are now.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import durations, entry_rules, rules
from store.errors import DomainError, DomainErrors, DomainWarning, ErrorCode
from store.models import OverlapPolicy, Team, TimeEntry

Interval = tuple[datetime, datetime]

# At most this many overlapping entries are named in one refusal or list of warnings.
MAX_NAMED = 20
# The longest interval an entry can occupy (a logged entry lasts at most 24 hours, a
# timer runs at most 24 hours): an entry that overlaps [start, end) started after
# start - LONGEST, a bound that lets the question read a range of the index on
# (user_id, started_at, id). EXPLAIN ANALYZE on PostgreSQL (45,000 entries, 1,500 of the
# user's): an index scan of ix_time_entries_user_id_started_at_id bounded on both sides,
# 8 rows read, 0.04 ms; no new index.
LONGEST = timedelta(seconds=max(durations.MAX_SECONDS, entry_rules.MAX_RUNNING_SECONDS))


def occupied(started_at: datetime, stopped_at: datetime | None, max_timer_hours: int) -> Interval:
    """The half-open interval an entry occupies: ``[started_at, stopped_at)``, or for a
    running timer ``[started_at, started_at + its team's limit)``."""
    if stopped_at is not None:
        return started_at, stopped_at
    return started_at, started_at + rules.timer_limit(max_timer_hours)


def overlaps(a: Interval, b: Interval) -> bool:
    """Whether two half-open intervals share an instant (touching ones do not)."""
    return a[0] < b[1] and b[0] < a[1]


def overlap_condition(interval: Interval, max_timer_hours: int) -> ColumnElement[bool]:
    """``overlaps(occupied(entry), interval)`` in SQL, for the entries of a team with
    ``max_timer_hours``: a running entry's end is its start + the limit, so it overlaps
    when it started after ``interval``'s start - the limit (a bound instant: no dialect's
    interval arithmetic). ``tests/gql/test_overlap.py`` checks it against the Python form
    on both databases."""
    start, end = interval
    started, stopped = col(TimeEntry.started_at), col(TimeEntry.stopped_at)
    return and_(
        started < end,
        started > start - LONGEST,  # implied by the rest; bounds the index range
        or_(
            stopped > start,
            and_(stopped.is_(None), started > start - rules.timer_limit(max_timer_hours)),
        ),
    )


async def overlapping(
    session: AsyncSession,
    *,
    team: Team,
    user_id: str,
    interval: Interval,
    exclude_id: str | None = None,
) -> list[TimeEntry]:
    """The user's live entries of ``team`` that overlap ``interval`` (an entry never
    overlaps itself: ``exclude_id``), earliest first, at most :data:`MAX_NAMED`."""
    stmt = select(TimeEntry).where(
        TimeEntry.team_id == team.id,
        TimeEntry.user_id == user_id,
        col(TimeEntry.deleted_at).is_(None),
        overlap_condition(interval, team.max_timer_hours),
    )
    if exclude_id is not None:
        stmt = stmt.where(TimeEntry.id != exclude_id)
    stmt = stmt.order_by(col(TimeEntry.started_at), col(TimeEntry.id)).limit(MAX_NAMED)
    return list((await session.exec(stmt)).all())


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def describe(entry: TimeEntry) -> str:
    """What a refusal or warning says of an overlapping entry: its id and its interval."""
    if entry.stopped_at is None:
        span = f"running since {_instant(entry.started_at)}"
    else:
        span = f"{_instant(entry.started_at)} to {_instant(entry.stopped_at)}"
    return f"Overlaps the entry {entry.id} ({span}) of the same user."


async def _findings(
    session: AsyncSession,
    *,
    team: Team,
    user_id: str,
    started_at: datetime,
    stopped_at: datetime | None,
    entry_id: str | None,
    field: Sequence[str],
) -> list[DomainWarning]:
    """One OVERLAP finding on ``field`` per entry :func:`overlapping` names."""
    found = await overlapping(
        session,
        team=team,
        user_id=user_id,
        interval=occupied(started_at, stopped_at, team.max_timer_hours),
        exclude_id=entry_id,
    )
    return [DomainWarning(ErrorCode.OVERLAP, describe(e), tuple(field), e.id) for e in found]


async def check(
    session: AsyncSession,
    *,
    team: Team,
    user_id: str,
    started_at: datetime,
    stopped_at: datetime | None,
    entry_id: str | None,
    field: Sequence[str],
    warnings: list[DomainWarning],
) -> None:
    """Apply ``team``'s policy to an entry of ``user_id`` that is to occupy ``[started_at,
    stopped_at)`` (None: running); ``entry_id``, the entry itself when it exists already.
    The caller holds the user's lock (``store.locks`` step 3). WARN: one warning per
    overlapping entry, added to ``warnings``; REFUSE: OVERLAP on ``field`` per
    overlapping entry, and the caller's transaction writes nothing."""
    if team.overlap_policy == OverlapPolicy.ALLOW.value:
        return
    findings = await _findings(
        session,
        team=team,
        user_id=user_id,
        started_at=started_at,
        stopped_at=stopped_at,
        entry_id=entry_id,
        field=field,
    )
    if findings and team.overlap_policy == OverlapPolicy.REFUSE.value:
        raise DomainErrors([DomainError(w.code, w.message, w.field) for w in findings])
    warnings.extend(findings)


async def replay_warnings(
    session: AsyncSession,
    *,
    team: Team,
    entry: TimeEntry,
    field: Sequence[str],
    warnings: list[DomainWarning],
) -> None:
    """What a repeat of a create by its client-chosen id answers (no idempotency record
    holds the first answer): under WARN, the stored entry's overlaps as they are now; under
    ALLOW and REFUSE none, as the first answer had none."""
    if team.overlap_policy != OverlapPolicy.WARN.value or entry.deleted_at is not None:
        return
    warnings += await _findings(
        session,
        team=team,
        user_id=entry.user_id,
        started_at=entry.started_at,
        stopped_at=entry.stopped_at,
        entry_id=entry.id,
        field=field,
    )


def check_policy(policy: str, field: Sequence[str]) -> None:
    """A policy value the store accepts (the API's enum already is one; the CLI's may not)."""
    if policy not in OverlapPolicy.__members__:
        raise DomainError(ErrorCode.VALIDATION, "overlapPolicy is ALLOW, WARN or REFUSE.", field)
