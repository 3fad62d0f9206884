"""Commands for users, teams and memberships."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func
from sqlalchemy.exc import DBAPIError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import locks, overlap, rules
from store.db import session_dialect
from store.errors import DomainError, ErrorCode
from store.events import CatalogKind, EventLog, Subject
from store.ids import new_id
from store.models import Membership, OverlapPolicy, Role, Rounding, Team, User
from store.timeutil import utcnow

MAX_NAME = 200


def check_time_zone(name: str, field: tuple[str, ...] = ("timeZone",)) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin.",
            field,
        ) from exc
    return name


async def check_time_zone_known(session: AsyncSession, name: str, field: tuple[str, ...]) -> str:
    """:func:`check_time_zone`, and on PostgreSQL also known to the server, which converts
    with its own copy of the zone database (``AT TIME ZONE`` in reports): a zone Python
    knows and the server does not is refused here, not failed on later. Asked in a
    savepoint, so a refusal leaves the transaction usable."""
    check_time_zone(name, field)
    if session_dialect(session) != "postgresql":
        return name
    try:
        async with session.begin_nested():
            await session.exec(select(func.timezone(name, func.now())))
    except DBAPIError as exc:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"Unknown time zone {name!r} to the database: use an IANA name such as Europe/Berlin.",
            field,
        ) from exc
    return name


MAX_LOCALE = 35  # the column's length
_LOCALE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


def check_locale(value: str, field: tuple[str, ...]) -> str:
    """A BCP 47 style tag (``en``, ``de-CH``, ``zh-Hant-TW``): a language of 2 to 8 letters,
    then subtags of 1 to 8 letters or digits, at most ``MAX_LOCALE`` characters."""
    if len(value) > MAX_LOCALE or _LOCALE.fullmatch(value) is None:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"Not a language tag such as en or de-CH (at most {MAX_LOCALE} characters).",
            field,
        )
    return value


def check_name(value: str, field: tuple[str, ...], limit: int = MAX_NAME) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise DomainError(ErrorCode.VALIDATION, f"Must be 1 to {limit} characters.", field)
    return value


async def create_user(
    session: AsyncSession,
    *,
    nickname: str,
    email: str,
    time_zone: str = "UTC",
    locale: str = "en",
    user_id: str | None = None,
) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise DomainError(ErrorCode.VALIDATION, "Not an e-mail address.", ("email",))
    existing = (await session.exec(select(User).where(User.email == email))).first()
    if existing is not None:
        raise DomainError(ErrorCode.VALIDATION, "A user with this e-mail exists.", ("email",))
    user = User(
        id=user_id or new_id(),
        nickname=check_name(nickname, ("nickname",)),
        email=email,
        time_zone=check_time_zone(time_zone),
        locale=locale,
    )
    session.add(user)
    await session.flush()
    return user


async def create_team(
    session: AsyncSession,
    *,
    name: str,
    owner_id: str,
    time_zone: str = "UTC",
    week_start: int = 1,
    rounding: str = Rounding.NONE.value,
    rounding_minutes: int = 1,
    default_billable: bool = True,
    default_rate_cents: int = 0,
    tasks_readonly: bool = False,
    locked_before: datetime | None = None,
    max_timer_hours: int = rules.MAX_TIMER_HOURS,
    overlap_policy: str = OverlapPolicy.ALLOW.value,
) -> Team:
    check_team_settings(
        week_start=week_start,
        rounding=rounding,
        rounding_minutes=rounding_minutes,
        default_rate_cents=default_rate_cents,
        max_timer_hours=max_timer_hours,
        overlap_policy=overlap_policy,
    )
    team = Team(
        id=new_id(),
        name=check_name(name, ("name",)),
        time_zone=await check_time_zone_known(session, time_zone, ("timeZone",)),
        week_start=week_start,
        rounding=rounding,
        rounding_minutes=rounding_minutes,
        default_billable=default_billable,
        default_rate_cents=default_rate_cents,
        tasks_readonly=tasks_readonly,
        locked_before=locked_before,
        max_timer_hours=max_timer_hours,
        overlap_policy=overlap_policy,
    )
    session.add(team)
    await session.flush()
    session.add(Membership(team_id=team.id, user_id=owner_id, role=Role.OWNER.value))
    await session.flush()
    return team


def check_team_settings(
    *,
    week_start: int | None = None,
    rounding: str | None = None,
    rounding_minutes: int | None = None,
    default_rate_cents: int | None = None,
    max_timer_hours: int | None = None,
    overlap_policy: str | None = None,
    prefix: tuple[str, ...] = (),
) -> None:
    """The team settings' ranges; a refusal names ``prefix`` + the field (the API passes
    ``("input",)``, the CLI nothing)."""
    if week_start is not None and not 1 <= week_start <= 7:
        raise DomainError(
            ErrorCode.VALIDATION, "weekStart is 1 (Monday) to 7 (Sunday).", (*prefix, "weekStart")
        )
    if rounding is not None and rounding not in Rounding.__members__:
        raise DomainError(
            ErrorCode.VALIDATION, "rounding is NONE, FLOOR, CEIL or NEAREST.", (*prefix, "rounding")
        )
    if rounding_minutes is not None and not 1 <= rounding_minutes <= 1440:
        raise DomainError(
            ErrorCode.VALIDATION, "roundingMinutes is 1 to 1440.", (*prefix, "roundingMinutes")
        )
    if default_rate_cents is not None and not 0 <= default_rate_cents <= 100_000_000:
        raise DomainError(
            ErrorCode.VALIDATION,
            "defaultRateCents is 0 to 100000000.",
            (*prefix, "defaultRateCents"),
        )
    if max_timer_hours is not None:
        rules.check_timer_hours(max_timer_hours, (*prefix, "maxTimerHours"))
    if overlap_policy is not None:
        overlap.check_policy(overlap_policy, (*prefix, "overlapPolicy"))


async def add_member(
    session: AsyncSession,
    *,
    team_id: str,
    user_id: str,
    role: str = Role.MEMBER.value,
    rate_cents: int | None = None,
) -> Membership:
    if role not in Role.__members__:
        raise DomainError(ErrorCode.VALIDATION, "role is OWNER, ADMIN or MEMBER.", ("role",))
    if rate_cents is not None and not 0 <= rate_cents <= 100_000_000:
        raise DomainError(ErrorCode.VALIDATION, "rateCents is 0 to 100000000.", ("rateCents",))
    if await session.get(Team, team_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", ("teamId",))
    if await session.get(User, user_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user.", ("userId",))
    existing = await session.get(Membership, (team_id, user_id))
    if existing is not None:
        existing.role, existing.rate_cents = role, rate_cents
        session.add(existing)
        await session.flush()
        return existing
    member = Membership(team_id=team_id, user_id=user_id, role=role, rate_cents=rate_cents)
    session.add(member)
    await session.flush()
    return member


async def owner_count(session: AsyncSession, team_id: str) -> int:
    stmt = select(func.count()).where(
        Membership.team_id == team_id, Membership.role == Role.OWNER.value
    )
    return int((await session.exec(stmt)).one())


async def check_member_change(
    session: AsyncSession,
    *,
    actor: Membership,
    target_role: str | None,
    new_role: str | None,
    leaving: bool,
    field: tuple[str, ...],
    own: bool = False,
) -> None:
    """The rule of every member change by ``actor`` (the caller holds the team's lock, so
    the count of owners stays as read): ``target_role`` is the member's role now (None: a
    new member), ``new_role`` the role it gets (None: unchanged), ``leaving`` a removal,
    ``own`` the actor's own membership (anyone may leave)."""
    if not rules.is_admin(actor) and not (leaving and own):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins and owners manage members.", field)
    if Role.OWNER.value in (target_role, new_role) and actor.role != Role.OWNER.value:
        raise DomainError(ErrorCode.FORBIDDEN, "Only owners make or unmake owners.", field)
    unmakes_owner = target_role == Role.OWNER.value and (
        leaving or (new_role is not None and new_role != Role.OWNER.value)
    )
    if unmakes_owner and await owner_count(session, actor.team_id) <= 1:
        raise DomainError(
            ErrorCode.LAST_OWNER,
            "A team keeps at least one owner: make another member OWNER first.",
            field,
        )


async def user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return (await session.exec(select(User).where(User.email == email.strip().lower()))).first()


async def _admin_membership(session: AsyncSession, *, team_id: str, actor_id: str) -> Team:
    """The team an admin changes, locked for catalogue changes (``store.locks`` step 2)."""
    member = await session.get(Membership, (team_id, actor_id))
    team = await locks.team_for_catalogue(session, team_id) if member is not None else None
    if team is None or member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", ("input", "teamId"))
    if member.role not in (Role.ADMIN.value, Role.OWNER.value):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins change the team.", ("input", "teamId"))
    return team


async def update_team(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    changes: dict[str, object],
    now: datetime,
    events: EventLog | None = None,
) -> Team:
    """Apply ``changes`` (column name → value) to a team the actor administers; a change
    that alters a stored value is a TEAM UPDATED event (a live report follows the team's
    rounding, zone and week start)."""
    try:
        team = await _admin_membership(session, team_id=team_id, actor_id=actor_id)
        rules.check_team_active(team, ("input", "id"))
    except DomainError as exc:
        raise DomainError(exc.code, exc.message, ("input", "id")) from exc
    check_team_settings(
        week_start=changes.get("week_start"),  # type: ignore[arg-type]
        rounding=changes.get("rounding"),  # type: ignore[arg-type]
        rounding_minutes=changes.get("rounding_minutes"),  # type: ignore[arg-type]
        default_rate_cents=changes.get("default_rate_cents"),  # type: ignore[arg-type]
        max_timer_hours=changes.get("max_timer_hours"),  # type: ignore[arg-type]
        overlap_policy=changes.get("overlap_policy"),  # type: ignore[arg-type]
        prefix=("input",),
    )
    if "name" in changes:
        changes["name"] = check_name(str(changes["name"]), ("input", "name"))
    if "time_zone" in changes:
        await check_time_zone_known(session, str(changes["time_zone"]), ("input", "timeZone"))
    changed = False
    for name, value in changes.items():
        if getattr(team, name) != value:
            setattr(team, name, value)
            changed = True
    if changed:
        team.updated_at = now
        session.add(team)
        await session.flush()
        if events is not None:
            events.team_changed(team.id, now)
    return team


async def add_member_as(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    user_id: str | None,
    email: str | None,
    role: str,
    rate_cents: int | None,
    events: EventLog | None = None,
    now: datetime | None = None,
) -> Membership:
    """An admin adds (or changes) a member; only owners grant or change OWNER, and the
    last owner stays one (:func:`check_member_change`)."""
    team = await _admin_membership(session, team_id=team_id, actor_id=actor_id)
    rules.check_team_active(team, ("input", "teamId"))
    actor = await locks.membership(session, team_id, actor_id, lock=False)  # as committed
    if actor is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such team.", ("input", "teamId"))
    user: User | None = None
    if user_id is not None:
        user = await session.get(User, user_id)
    elif email is not None:
        user = await user_by_email(session, email=email)
    else:
        raise DomainError(ErrorCode.VALIDATION, "Give userId or email.", ("input", "userId"))
    if user is None:
        field = "userId" if user_id is not None else "email"
        raise DomainError(ErrorCode.NOT_FOUND, "No such user.", ("input", field))
    existing = await locks.membership(session, team_id, user.id)
    await check_member_change(
        session,
        actor=actor,
        target_role=existing.role if existing is not None else None,
        new_role=role,
        leaving=False,
        field=("input", "role"),
    )
    try:
        member = await add_member(
            session, team_id=team_id, user_id=user.id, role=role, rate_cents=rate_cents
        )
    except DomainError as exc:
        raise DomainError(exc.code, exc.message, ("input", *exc.field)) from exc
    if events is not None:
        kind = CatalogKind.CREATED if existing is None else CatalogKind.UPDATED
        at = now or utcnow()
        events.catalog(kind, Subject.MEMBER, team_id=team_id, subject_id=user.id, at=at)
    return member


UNCHANGED: object = object()


async def update_viewer(
    session: AsyncSession,
    *,
    user_id: str,
    time_zone: object = UNCHANGED,
    locale: object = UNCHANGED,
    nickname: object = UNCHANGED,
) -> User:
    """Change the user's own settings; only those given (not ``UNCHANGED``) change. The
    user row is locked first (store.locks step 3)."""
    changes: dict[str, str] = {}
    if nickname is not UNCHANGED:
        cleaned = rules.clean_text(
            nickname if isinstance(nickname, str) else None,
            ("input", "nickname"),
            limit=MAX_NAME,
            required=True,
        )
        assert cleaned is not None
        changes["nickname"] = cleaned.strip()
    if locale is not UNCHANGED:
        changes["locale"] = check_locale(str(locale), ("input", "locale"))
    if time_zone is not UNCHANGED:
        changes["time_zone"] = await check_time_zone_known(
            session, str(time_zone), ("input", "timeZone")
        )
    await locks.users(session, [user_id])
    user = (
        await session.exec(
            select(User).where(User.id == user_id).execution_options(populate_existing=True)
        )
    ).one()
    changed = False
    for name, value in changes.items():
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed = True
    if changed:
        session.add(user)
        await session.flush()
    return user
