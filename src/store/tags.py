"""Tags (issue 20): a team's labels, any number on an entry.

Admins and owners manage a team's tags (``createTag``, ``updateTag``, ``archiveTag``,
``restoreTag``); every member puts live tags on entries (``tagIds`` of log, start and
update, and the copies of ``store.copies``). Each rule is one function here:

- a name is trimmed, 1 to ``MAX_NAME`` characters, and unique in any case among the
  team's live tags (:func:`name_key`, the column a partial unique index holds);
- an archived tag takes no new entries (``TAG_ARCHIVED``) and stays on the entries that
  have it, in their filters and reports; an entry keeps an archived tag through an update
  that names it again;
- an entry has at most ``MAX_PER_ENTRY`` tags, of its own team; repeated ids count once
  (:func:`set_entry_tags`, the one function every entry writer calls);
- the filters are ``store.tag_rules``, the SQL of ``store.entries.entry_conditions``,
  which pages, counts, reports and exports share.

Locks (``store.locks``): a tag's change locks its team for catalogue changes (step 2,
``FOR NO KEY UPDATE``), then the tag (step 5, ``FOR NO KEY UPDATE``); an entry writer
reads the tags it puts on an entry ``FOR SHARE`` at step 5, so an archive waits for the
writers in flight, and a writer that waited reads the tag as the archive committed it:
no entry gets a tag that was archived before it committed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Dialect, bindparam, select
from sqlmodel import SQLModel, col, delete, insert
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import catalog, history, locks, rules
from store.db import Database
from store.direct import Statement, compile_statement, fetch
from store.errors import DomainError, ErrorCode
from store.events import CatalogKind, EventLog, Subject
from store.ids import new_id, parse_ulid
from store.lookups import Record
from store.models import EntryTag, Tag, TimeEntry

MAX_NAME = 100
MAX_PER_ENTRY = 20
MAX_COLOR = 0xFFFFFF
UNSET: object = catalog.UNSET
Field = tuple[str, ...]
TAG_IDS: Field = ("input", "tagIds")


def name_key(name: str) -> str:
    """What makes two names the same name: case folded (``"Ärger"`` is ``"ärger"``),
    in Python on both databases (SQLite's ``lower`` folds ASCII letters only)."""
    return name.casefold()


def check_name(name: str, field: Field) -> str:
    """The name as stored: trimmed, 1 to ``MAX_NAME`` characters."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= MAX_NAME:
        raise DomainError(ErrorCode.VALIDATION, f"name must be 1 to {MAX_NAME} characters.", field)
    return trimmed


def check_color(color: int | None, field: Field) -> int | None:
    """An RGB colour as an integer (0xRRGGBB), or None."""
    if color is not None and not 0 <= color <= MAX_COLOR:
        raise DomainError(ErrorCode.VALIDATION, f"color is 0 to {MAX_COLOR}.", field)
    return color


def _f(*names: str) -> Field:
    return ("input", *names)


def _changed(events: EventLog | None, kind: CatalogKind, tag: Tag, now: datetime) -> None:
    if events is not None:
        events.catalog(kind, Subject.TAG, team_id=tag.team_id, subject_id=tag.id, at=now)


async def _admin_team(session: AsyncSession, *, team_id: str, actor_id: str, field: Field) -> None:
    """The team locked for catalogue changes (step 2); FORBIDDEN for members. A team the
    actor is not in reads as no team (NOT_FOUND on ``field``)."""
    try:
        _team, member = await catalog.catalogue_team(session, team_id=team_id, actor_id=actor_id)
    except DomainError as exc:
        raise DomainError(exc.code, exc.message, field) from exc
    if not rules.is_admin(member):
        raise DomainError(ErrorCode.FORBIDDEN, "Only admins manage tags.", field)


async def _check_name_free(
    session: AsyncSession, *, team_id: str, key: str, tag_id: str | None, field: Field
) -> None:
    """No other live tag of the team has this name (read under the team's catalogue lock:
    tag changes of a team run one at a time)."""
    stmt = orm_select(Tag.id).where(
        Tag.team_id == team_id, Tag.name_key == key, col(Tag.archived_at).is_(None)
    )
    other = (await session.exec(stmt)).first()
    if other is not None and other != tag_id:
        raise DomainError(ErrorCode.VALIDATION, "A tag with this name exists.", field)


async def create_tag(
    session: AsyncSession,
    *,
    actor_id: str,
    team_id: str,
    name: str,
    color: int | None,
    now: datetime,
    events: EventLog | None = None,
) -> Tag:
    team_key = parse_ulid(team_id) or team_id
    await _admin_team(session, team_id=team_key, actor_id=actor_id, field=_f("teamId"))
    stored = check_name(name, _f("name"))
    key = name_key(stored)
    await _check_name_free(session, team_id=team_key, key=key, tag_id=None, field=_f("name"))
    tag = Tag(
        id=new_id(),
        team_id=team_key,
        name=stored,
        name_key=key,
        color=check_color(color, _f("color")),
        created_at=now,
        updated_at=now,
    )
    session.add(tag)
    await session.flush()
    _changed(events, CatalogKind.CREATED, tag, now)
    return tag


async def _tag_for_change(session: AsyncSession, *, actor_id: str, tag_id: str) -> Tag:
    """The tag, locked for its change (steps 2 and 5); NOT_FOUND as if it did not exist
    for an unknown id or another team's tag, FORBIDDEN for a member of its team."""
    key = parse_ulid(tag_id)
    seen = await session.get(Tag, key) if key else None
    if seen is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such tag.", _f("id"))
    await _admin_team(session, team_id=seen.team_id, actor_id=actor_id, field=_f("id"))
    tag = await locks.catalogue_row(session, Tag, seen.id)
    assert tag is not None  # tags are never deleted but with their team
    return tag


async def update_tag(
    session: AsyncSession,
    *,
    actor_id: str,
    tag_id: str,
    name: str | None,
    color: object,
    now: datetime,
    events: EventLog | None = None,
) -> Tag:
    """Rename or recolour a tag (``color`` UNSET: unchanged). Nothing changed: no event."""
    tag = await _tag_for_change(session, actor_id=actor_id, tag_id=tag_id)
    before = (tag.name, tag.color)
    if name is not None:
        stored = check_name(name, _f("name"))
        if tag.archived_at is None:
            await _check_name_free(
                session, team_id=tag.team_id, key=name_key(stored), tag_id=tag.id, field=_f("name")
            )
        tag.name, tag.name_key = stored, name_key(stored)
    if color is not UNSET:
        assert color is None or isinstance(color, int)
        tag.color = check_color(color, _f("color"))
    if (tag.name, tag.color) == before:
        return tag
    tag.updated_at = now
    session.add(tag)
    await session.flush()
    _changed(events, CatalogKind.UPDATED, tag, now)
    return tag


async def set_archived(
    session: AsyncSession,
    *,
    actor_id: str,
    tag_id: str,
    archived: bool,
    now: datetime,
    events: EventLog | None = None,
) -> Tag:
    """Archive a tag (``archiveTag``) or make it live again (``restoreTag``, refused when a
    live tag took its name meanwhile). Archiving an archived tag changes nothing, and
    keeps its first instant."""
    tag = await _tag_for_change(session, actor_id=actor_id, tag_id=tag_id)
    if (tag.archived_at is not None) == archived:
        return tag
    if not archived:
        await _check_name_free(
            session, team_id=tag.team_id, key=tag.name_key, tag_id=tag.id, field=_f("id")
        )
    tag.archived_at = now if archived else None
    tag.updated_at = now
    session.add(tag)
    await session.flush()
    _changed(events, CatalogKind.UPDATED, tag, now)
    return tag


# --- the tags of an entry ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagChange:
    """An entry's tag ids before and after a change, each sorted (the change history's
    ``from`` and ``to``)."""

    before: list[str]
    after: list[str]

    @property
    def changed(self) -> bool:
        return self.before != self.after


async def entry_tag_ids(session: AsyncSession, entry_id: str) -> list[str]:
    """The ids of the entry's tags, sorted (archived ones too)."""
    stmt = (
        orm_select(EntryTag.tag_id)
        .where(EntryTag.entry_id == entry_id)
        .order_by(col(EntryTag.tag_id))
    )
    return list((await session.exec(stmt)).all())


def _wanted(tag_ids: Sequence[str], field: Field) -> list[tuple[int, str | None]]:
    """(index in the input, the id as stored or None when no ULID), repeats dropped."""
    seen: set[str] = set()
    out: list[tuple[int, str | None]] = []
    for index, raw in enumerate(tag_ids):
        key = parse_ulid(raw)
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append((index, key))
    if len(out) > MAX_PER_ENTRY:
        raise DomainError(
            ErrorCode.VALIDATION, f"An entry has at most {MAX_PER_ENTRY} tags.", field
        )
    return out


async def set_entry_tags(
    session: AsyncSession,
    *,
    entry: TimeEntry,
    tag_ids: Sequence[str] | None,
    new: bool = False,
    field: Field = TAG_IDS,
) -> TagChange:
    """Make the entry's tags exactly ``tag_ids`` (None: leave them; ``[]``: none), after
    the checks: each a tag of the entry's team (else NOT_FOUND on ``input.tagIds.<i>``),
    live unless the entry has it already (else TAG_ARCHIVED), at most ``MAX_PER_ENTRY``
    distinct ones (VALIDATION). The tags are read ``FOR SHARE`` (``store.locks`` step 5),
    after the entry's own locks. ``new``: the entry was just made and has none yet.
    Returns the ids before and after."""
    before = [] if new else await entry_tag_ids(session, entry.id)
    if tag_ids is None:
        return TagChange(before, before)
    wanted = _wanted(tag_ids, field)
    keys = sorted({k for _, k in wanted if k is not None})
    found: dict[str, Tag] = {}
    if keys:
        stmt = (
            orm_select(Tag)
            .where(col(Tag.id).in_(keys))
            .order_by(col(Tag.id))
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
        found = {t.id: t for t in (await session.exec(stmt)).all()}
    had = set(before)
    for index, key in wanted:
        tag = found.get(key) if key is not None else None
        where = (*field, str(index))
        if tag is None or tag.team_id != entry.team_id:
            raise DomainError(ErrorCode.NOT_FOUND, "No such tag in this team.", where)
        if tag.archived_at is not None and tag.id not in had:
            raise DomainError(ErrorCode.TAG_ARCHIVED, f"The tag {tag.name!r} is archived.", where)
    after = keys
    gone = sorted(had - set(after))
    added = [k for k in after if k not in had]
    if gone:
        await session.exec(
            delete(EntryTag).where(
                col(EntryTag.entry_id) == entry.id, col(EntryTag.tag_id).in_(gone)
            )
        )
    if added:
        await session.exec(
            insert(EntryTag).values(
                [{"entry_id": entry.id, "tag_id": t, "team_id": entry.team_id} for t in added]
            )
        )
    if gone or added:  # the entry's change history: no tags is null, as no value is
        history.note_change(session, entry, "tagIds", before or None, after or None)
    return TagChange(before, after)


async def live_tag_ids(session: AsyncSession, entry_id: str) -> list[str]:
    """The entry's tags that are not archived, sorted: what a copy of it carries
    (``store.copies``: an archived tag takes no new entries, so a copy leaves it off)."""
    stmt = (
        orm_select(EntryTag.tag_id)
        .join(Tag, col(Tag.id) == col(EntryTag.tag_id))
        .where(EntryTag.entry_id == entry_id, col(Tag.archived_at).is_(None))
        .order_by(col(EntryTag.tag_id))
    )
    return list((await session.exec(stmt)).all())


# --- reading -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _tags_of_entries_statement(count: int, dialect: Dialect) -> Statement:
    tags, links = SQLModel.metadata.tables["tags"], SQLModel.metadata.tables["entry_tags"]
    keys = [bindparam(f"k{i}", type_=links.c.entry_id.type) for i in range(count)]
    stmt = (
        select(links.c.entry_id.label("pc_entry_id"), tags)
        .join(tags, tags.c.id == links.c.tag_id)
        .where(links.c.entry_id.in_(keys))
        .order_by(links.c.entry_id, tags.c.name_key, tags.c.id)
    )
    return compile_statement(stmt, dialect)


async def tags_of_entries(db: Database, entry_ids: Sequence[str]) -> dict[str, list[Record]]:
    """The tags of each entry (archived too), by name in any case, then id: one statement
    for a level of entries (``TimeEntry.tags``), on the driver as ``store.lookups`` reads
    (a page of 100 entries reads some 160 tags: ORM loading would be most of its cost)."""
    if not entry_ids:
        return {}
    statement = _tags_of_entries_statement(len(entry_ids), db.engine.sync_engine.dialect)
    rows = await fetch(db, statement, {f"k{i}": k for i, k in enumerate(entry_ids)})
    out: dict[str, list[Record]] = {e: [] for e in entry_ids}
    for row in rows:
        out[row.pop("pc_entry_id")].append(Record(**row))
    return out
