"""Demo data: a team of 3, a category tree, 30 tasks, 5 tags, ~2,000 entries over the last 8 weeks
and one running timer, so a newcomer has something to explore at once.

Everything derives from ``now`` and a seeded random generator: the same arguments give
the same data. Billable and rate follow the contract (:mod:`store.pricing`), exactly as
entries created through the API would get them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import accounts, history, tags, tokens
from store.db import Database
from store.ids import new_id
from store.models import (
    AccessToken,
    Category,
    Comment,
    EntryChange,
    EntryStatus,
    EntryTag,
    InputType,
    Membership,
    Role,
    Rounding,
    ScopeType,
    Source,
    Tag,
    Task,
    TaskState,
    Team,
    TimeEntry,
    User,
    metadata,
)
from store.pricing import resolve_billable, resolve_rate_cents
from store.rules import chain_from

DEMO_TEAM = "Punchclock Demo"
TIME_ZONE = "Europe/Berlin"
DEFAULT_RATE_CENTS = 9_500
WEEKS = 8
# (nickname, e-mail, role, member rate in cents)
PEOPLE: tuple[tuple[str, str, Role, int | None], ...] = (
    ("Ada Owner", "ada@demo.punchclock.test", Role.OWNER, None),
    ("Grace Admin", "grace@demo.punchclock.test", Role.ADMIN, 11_000),
    ("Linus Member", "linus@demo.punchclock.test", Role.MEMBER, 8_500),
)
# (key, title, parent key, color, billable, rate in cents, archived)
CATEGORIES: tuple[tuple[str, str, str | None, int, bool | None, int | None, bool], ...] = (
    ("dev", "Development", None, 0x2F6FEB, None, None, False),
    ("dev/api", "API", "dev", 0x1F883D, None, 12_000, False),
    ("dev/web", "Web app", "dev", 0x8250DF, None, None, False),
    ("dev/mobile", "Mobile app", "dev", 0xBF3989, None, None, False),
    ("ops", "Operations", None, 0xD1242F, None, 10_000, False),
    ("ops/oncall", "On call", "ops", 0xFB8500, None, 15_000, False),
    ("ops/infra", "Infrastructure", "ops", 0x6E7781, None, None, False),
    ("internal", "Internal", None, 0x57606A, False, None, False),
    ("internal/meetings", "Meetings", "internal", 0x9A6700, None, None, False),
    ("internal/hiring", "Hiring", "internal", 0x0969DA, None, None, False),
    ("support", "Customer support", None, 0x1A7F37, True, 8_000, False),
    ("legacy", "Legacy migration", None, 0x8C959F, None, None, True),
)
# (category key, title); the legacy tasks are closed, and worked on only in early weeks.
TASKS: tuple[tuple[str, str], ...] = (
    ("dev/api", "Cursor paging for time entries"),
    ("dev/api", "Idempotency keys for mutations"),
    ("dev/api", "Rate limits per token"),
    ("dev/api", "Webhook delivery retries"),
    ("dev/api", "Bulk approve endpoint"),
    ("dev/web", "Timesheet week view"),
    ("dev/web", "Dark mode"),
    ("dev/web", "Keyboard shortcuts for the timer"),
    ("dev/web", "Export to CSV"),
    ("dev/web", "Accessible date picker"),
    ("dev/mobile", "Offline timer"),
    ("dev/mobile", "Push notification on a forgotten timer"),
    ("dev/mobile", "Widget for the home screen"),
    ("dev", "Upgrade to Python 3.13"),
    ("dev", "Flaky test in CI"),
    ("ops/oncall", "Incident: slow dashboard queries"),
    ("ops/oncall", "Incident: certificate expiry"),
    ("ops/infra", "PostgreSQL 17 upgrade"),
    ("ops/infra", "Backups to a second region"),
    ("ops/infra", "Terraform for the staging stack"),
    ("ops", "Monthly cost review"),
    ("support", "Customer onboarding: Acme"),
    ("support", "Invoice question from Globex"),
    ("support", "Import from a spreadsheet"),
    ("internal/meetings", "Sprint planning"),
    ("internal/meetings", "Retrospective"),
    ("internal/hiring", "Interviews: backend engineer"),
    ("internal", "Team offsite"),
    ("legacy", "Migrate old invoices"),
    ("legacy", "Switch off the old tracker"),
)
PHRASES = (
    "Review",
    "Fix",
    "Pairing on",
    "Planning",
    "Deploy",
    "Refactor",
    "Tests for",
    "Docs for",
    "Call about",
    "Research",
)
COMMENTS = (
    "Which ticket was this for?",
    "Please split this into the API and the web part.",
    "Looks good, approved.",
    "That is long for a review: anything blocking?",
    "Thanks for the detailed description.",
)
DAY_STARTS = time(7, 30)
DAY_ENDS = time(21, 30)
RUNNING_FOR = timedelta(minutes=42)
MAX_SECONDS = 4 * 3600
# The team's tags (name, colour 0xRRGGBB); about three entries in five carry one or two.
TAGS = (
    ("meeting", 0x4F86F7),
    ("bugfix", 0xE5484D),
    ("review", 0x8E4EC6),
    ("customer", 0x30A46C),
    ("planning", 0xF5A524),
)


class DemoExists(Exception):
    """The database has a team named like the demo team already."""


@dataclass(frozen=True)
class DemoUser:
    nickname: str
    email: str
    role: str
    token: str


@dataclass(frozen=True)
class DemoResult:
    team_id: str
    users: tuple[DemoUser, ...]
    entries: int


async def has_any_team(session: AsyncSession) -> bool:
    return (await session.exec(select(Team.id).limit(1))).first() is not None


async def demo_team_id(session: AsyncSession) -> str | None:
    """The id of the demo team, if the database has one."""
    return (await session.exec(select(Team.id).where(Team.name == DEMO_TEAM).limit(1))).first()


async def new_demo_tokens(db: Database) -> DemoResult | None:
    """A fresh token for each demo user (only hashes of the first ones were kept, so they
    cannot be shown again); None when the database has no demo team."""
    async with db.write() as s:
        team_id = await demo_team_id(s)
        if team_id is None:
            return None
        emails = [email for _nickname, email, _role, _rate in PEOPLE]
        found = await s.exec(select(User).where(col(User.email).in_(emails)))
        users = {user.email: user for user in found.all()}
        demo_users = []
        for _nickname, email, role, _rate in PEOPLE:
            if email in users:
                user = users[email]
                token = await tokens.create_token(s, user_id=user.id, name="demo")
                demo_users.append(DemoUser(user.nickname, user.email, role.value, token))
        await s.commit()
        count = await s.exec(
            select(func.count()).select_from(TimeEntry).where(TimeEntry.team_id == team_id)
        )
        return DemoResult(team_id=team_id, users=tuple(demo_users), entries=int(count.one()))


async def seed_demo(
    target: Database | async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    rng_seed: int = 7,
) -> DemoResult:
    """Create the demo team and its data in one transaction; :class:`DemoExists` if it is
    there already. ``target`` is a Database (its write sessions are used) or a factory."""
    factory = target.write if isinstance(target, Database) else target
    now = now.astimezone(UTC).replace(microsecond=0)
    rng = random.Random(rng_seed)
    async with factory() as s:
        taken = await s.exec(select(Team.id).where(Team.name == DEMO_TEAM).limit(1))
        if taken.first() is not None:
            raise DemoExists(f"A team named {DEMO_TEAM!r} exists already: not seeding twice.")
        team, users = await _team_and_users(s, founded=now - timedelta(weeks=WEEKS, days=3))
        categories = _categories(team.id, team.created_at)
        s.add_all(categories)
        await s.flush()  # parents before children (self-reference)
        tasks = _tasks(team.id, categories, team.created_at)
        s.add_all(tasks)
        await s.flush()
        entries = _entries(rng, team, users, categories, tasks, now=now)
        await s.exec(insert(_table(TimeEntry)), params=[e.model_dump() for e in entries])
        comments = _comments(rng, entries, users, now=now)
        await s.exec(insert(_table(Comment)), params=[c.model_dump() for c in comments])
        team_tags = _tags(team.id, team.created_at)
        s.add_all(team_tags)
        await s.flush()
        links = _entry_tags(rng, entries, team_tags)
        await s.exec(insert(_table(EntryTag)), params=links)
        await s.exec(insert(_table(EntryChange)), params=_creations(entries, links))
        demo_users = []
        for user, (_nickname, _email, role, _rate) in zip(users, PEOPLE, strict=True):
            token = await tokens.create_token(s, user_id=user.id, name="demo")
            demo_users.append(DemoUser(user.nickname, user.email, role.value, token))
        await s.exec(
            update(AccessToken)
            .where(col(AccessToken.user_id).in_([u.id for u in users]))
            .values(created_at=now)
        )
        await s.commit()
    return DemoResult(team_id=team.id, users=tuple(demo_users), entries=len(entries))


def _table(model: type[SQLModel]) -> Table:
    # Core, not ORM, inserts: the ORM splits a bulk insert wherever the set of null
    # columns changes from one row to the next, which here is at almost every row.
    return metadata.tables[str(model.__tablename__)]


async def _team_and_users(s: AsyncSession, *, founded: datetime) -> tuple[Team, list[User]]:
    users = [
        await accounts.create_user(s, nickname=nickname, email=email, time_zone=TIME_ZONE)
        for nickname, email, _role, _rate in PEOPLE
    ]
    team = await accounts.create_team(
        s,
        name=DEMO_TEAM,
        owner_id=users[0].id,
        time_zone=TIME_ZONE,
        rounding=Rounding.NEAREST.value,
        rounding_minutes=5,
        default_rate_cents=DEFAULT_RATE_CENTS,
    )
    for user, (_nickname, _email, role, rate) in zip(users, PEOPLE, strict=True):
        await accounts.add_member(
            s, team_id=team.id, user_id=user.id, role=role.value, rate_cents=rate
        )
    # The team predates its entries; whole seconds like every instant in the demo.
    team.created_at = team.updated_at = founded
    for user in users:
        user.created_at = founded
    for member in (await s.exec(select(Membership).where(Membership.team_id == team.id))).all():
        member.created_at = founded
    await s.flush()
    return team, users


def _categories(team_id: str, created: datetime) -> list[Category]:
    ids = {key: new_id() for key, *_ in CATEGORIES}
    return [
        Category(
            id=ids[key],
            team_id=team_id,
            parent_id=ids[parent] if parent else None,
            key=key,
            title=title,
            color=color,
            position=position,
            archived=archived,
            billable=billable,
            rate_cents=rate,
            created_at=created,
            updated_at=created,
        )
        for position, (key, title, parent, color, billable, rate, archived) in enumerate(CATEGORIES)
    ]


def _tasks(team_id: str, categories: Sequence[Category], created: datetime) -> list[Task]:
    by_key = {c.key: c for c in categories}
    tasks = []
    for number, (key, title) in enumerate(TASKS, start=101):
        category = by_key[key]
        url = f"https://tracker.example.com/PC-{number}"
        tasks.append(
            Task(
                id=new_id(),
                team_id=team_id,
                category_id=category.id,
                key=url,
                title=title,
                url=url,
                state=TaskState.CLOSED.value if category.archived else TaskState.OPEN.value,
                created_at=created,
                updated_at=created,
            )
        )
    return tasks


def _working_days(today: date) -> list[date]:
    days = (today - timedelta(days=n) for n in range(WEEKS * 7, 0, -1))
    return [day for day in days if day.weekday() < 5]


def _duration(rng: random.Random) -> int:
    """15 minutes to 4 hours, mostly short; half typed in whole minutes, half stopwatch exact."""
    roll = rng.random()
    if roll < 0.75:
        minutes = rng.randint(15, 30)
    elif roll < 0.95:
        minutes = rng.randint(30, 75)
    else:
        minutes = rng.randint(75, 240)
    odd_seconds = rng.randint(0, 59) if rng.random() < 0.5 else 0
    return min(minutes * 60 + odd_seconds, MAX_SECONDS)


def _status(rng: random.Random, age: timedelta) -> EntryStatus:
    if age > timedelta(weeks=3):
        return rng.choices(
            (EntryStatus.APPROVED, EntryStatus.SUBMITTED, EntryStatus.DRAFT), (80, 15, 5)
        )[0]
    if age > timedelta(weeks=1):
        return rng.choices(
            (
                EntryStatus.APPROVED,
                EntryStatus.SUBMITTED,
                EntryStatus.DRAFT,
                EntryStatus.REJECTED,
            ),
            (35, 40, 24, 1),
        )[0]
    return rng.choices((EntryStatus.DRAFT, EntryStatus.SUBMITTED), (80, 20))[0]


def _entries(
    rng: random.Random,
    team: Team,
    users: Sequence[User],
    categories: Sequence[Category],
    tasks: Sequence[Task],
    *,
    now: datetime,
) -> list[TimeEntry]:
    zone = ZoneInfo(team.time_zone)
    rates = {user.id: rate for user, (*_, rate) in zip(users, PEOPLE, strict=True)}
    chains = {c.id: chain_from(categories, c.id) for c in categories}
    legacy = {c.id for c in categories if c.archived}
    early = now - timedelta(weeks=WEEKS - 2)
    entries: list[TimeEntry] = []

    def entry(user: User, started: datetime, seconds: int | None) -> TimeEntry:
        # Archived work happened only in the first weeks.
        pool = [t for t in tasks if started < early or t.category_id not in legacy]
        task = rng.choice(pool) if rng.random() < 0.7 else None
        if task is not None:
            category_id = task.category_id
        else:
            category_id = rng.choice(
                [c.id for c in categories if started < early or c.id not in legacy]
            )
        assert category_id is not None
        chain = chains[category_id]
        input_type = rng.choices(list(InputType), (55, 40, 5))[0] if seconds else InputType.REALTIME
        stopped = started + timedelta(seconds=seconds) if seconds is not None else None
        return TimeEntry(
            id=new_id(),
            team_id=team.id,
            user_id=user.id,
            scope_type=(ScopeType.TASK if task else ScopeType.CATEGORY).value,
            task_id=task.id if task else None,
            category_id=None if task else category_id,
            started_at=started,
            stopped_at=stopped,
            duration_seconds=seconds,
            work_date=started.astimezone(zone).date(),
            description=(
                f"{rng.choice(PHRASES)} {(task.title if task else chain[0].title).lower()}"
                if rng.random() < 0.85
                else None
            ),
            billable=resolve_billable(None, chain, team.default_billable),
            rate_snapshot_cents=resolve_rate_cents(rates[user.id], chain, team.default_rate_cents),
            status=(_status(rng, now - started) if stopped else EntryStatus.DRAFT).value,
            input_type=input_type.value,
            source=(Source.API if input_type == InputType.AUTOMATION else Source.UI).value,
            created_at=started if input_type == InputType.REALTIME else (stopped or started),
            updated_at=stopped or started,
        )

    for day in _working_days(now.astimezone(zone).date()):
        for user in users:
            start = datetime.combine(day, DAY_STARTS, zone).astimezone(UTC)
            cursor = start + timedelta(minutes=rng.randint(0, 120))
            closing = datetime.combine(day, DAY_ENDS, zone).astimezone(UTC)
            for _ in range(rng.randint(15, 20)):
                seconds = _duration(rng)
                if cursor + timedelta(seconds=seconds) > closing:
                    break
                entries.append(entry(user, cursor, seconds))
                cursor += timedelta(seconds=seconds + 60 * rng.choice((0, 0, 1, 2, 5, 10, 15)))
    # One timer running now, started after its user's last entry ended.
    runner = users[-1]
    ends = [e.stopped_at for e in entries if e.user_id == runner.id and e.stopped_at]
    entries.append(entry(runner, max([now - RUNNING_FOR, *ends]), None))
    return entries


def _comments(
    rng: random.Random, entries: Sequence[TimeEntry], users: Sequence[User], *, now: datetime
) -> list[Comment]:
    """Every rejected entry gets a reason; a few others get a question or a thank-you."""
    reviewers = users[:2]
    rejected = [e for e in entries if e.status == EntryStatus.REJECTED.value]
    others = [
        e
        for e in entries
        if e.stopped_at is not None
        and e.status in (EntryStatus.SUBMITTED.value, EntryStatus.APPROVED.value)
    ]
    comments = []
    for entry in [*rejected, *rng.sample(others, 10)]:
        author = rng.choice([u for u in reviewers if u.id != entry.user_id])
        assert entry.stopped_at is not None
        written = min(entry.stopped_at + timedelta(hours=rng.randint(1, 30)), now)
        content = (
            "Rejected: please add which customer this was for."
            if entry.status == EntryStatus.REJECTED.value
            else rng.choice(COMMENTS)
        )
        comments.append(
            Comment(
                id=new_id(),
                time_entry_id=entry.id,
                team_id=entry.team_id,
                user_id=author.id,
                content=content,
                created_at=written,
            )
        )
    return comments


def _tags(team_id: str, created: datetime) -> list[Tag]:
    return [
        Tag(
            id=new_id(),
            team_id=team_id,
            name=name,
            name_key=tags.name_key(name),
            color=color,
            created_at=created,
            updated_at=created,
        )
        for name, color in TAGS
    ]


def _entry_tags(
    rng: random.Random, entries: Sequence[TimeEntry], team_tags: Sequence[Tag]
) -> list[dict[str, str]]:
    """About three entries in five get one or two tags, so filters and TAG reports show."""
    links = []
    for entry in entries:
        if rng.random() < 0.6:
            for tag in rng.sample(list(team_tags), rng.choice((1, 1, 2))):
                links.append({"entry_id": entry.id, "tag_id": tag.id, "team_id": entry.team_id})
    return links


def _creations(
    entries: Sequence[TimeEntry], links: Sequence[dict[str, str]]
) -> list[dict[str, Any]]:
    """Each entry's history: its creation by its user, as ``store.history`` records one
    (the demo inserts without the ORM, whose listener records the API's writes)."""
    tagged: dict[str, list[str]] = {}
    for link in links:
        tagged.setdefault(link["entry_id"], []).append(link["tag_id"])
    rows = []
    for entry in entries:
        tag_ids = tagged.get(entry.id)
        extra = [{"field": "tagIds", "from": None, "to": history.api_value(tag_ids)}]
        row = history.change_values(
            entry_id=entry.id,
            team_id=entry.team_id,
            actor_id=entry.user_id,
            at=entry.created_at,
            before=None,
            after=entry.model_dump(),
            extra=extra if tag_ids else (),
        )
        assert row is not None  # a new entry always has values
        rows.append(row)
    return rows
