"""The tag filters of entries (issue 20), each rule once in Python and once as the SQL
that ``store.entries.entry_conditions`` adds for pages, counts, reports and exports; the
tests hold each pair to each other. Apart from ``store.tags`` (the commands), which
imports the write path: ``store.entries`` is imported by that path itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import ColumnElement, exists, false, func, select
from sqlalchemy.sql.selectable import FromClause

from store.models import EntryTag

_ENTRY_TAGS = EntryTag.__table__  # type: ignore[attr-defined]


class TagMatch(StrEnum):
    """How a filter's ``tagIds`` match an entry: any of them, or all of them."""

    ANY = "ANY"
    ALL = "ALL"


def tag_match(entry_tags: set[str], tag_ids: Sequence[str], match: TagMatch) -> bool:
    """Whether an entry with the tags ``entry_tags`` matches ``tag_ids`` (the rule that
    :func:`tag_match_sql` states in SQL; tests hold the two to each other)."""
    wanted = set(tag_ids)
    if match is TagMatch.ALL:
        return bool(wanted) and wanted <= entry_tags
    return bool(wanted & entry_tags)


def tag_match_sql(
    entries: FromClause, tag_ids: Sequence[str], match: TagMatch
) -> ColumnElement[bool]:
    """:func:`tag_match` of each row of ``entries``: ANY, an entry with one of the tags;
    ALL, an entry with every one of them (an empty list matches nothing either way)."""
    wanted = sorted(set(tag_ids))
    if not wanted:
        return false()
    # An alias of its own: a report grouped by TAG joins ``entry_tags`` itself, and the
    # subquery must not correlate to that join.
    tagged = _ENTRY_TAGS.alias()
    of_wanted = tagged.c.tag_id.in_(wanted)
    if match is TagMatch.ALL:
        count = (
            select(func.count())
            .select_from(tagged)
            .where(tagged.c.entry_id == entries.c.id, of_wanted)
            .scalar_subquery()
        )
        return count == len(wanted)
    return entries.c.id.in_(select(tagged.c.entry_id).where(of_wanted))


def untagged(entry_tags: set[str]) -> bool:
    """Whether an entry has no tag (archived ones count as tags)."""
    return not entry_tags


def untagged_sql(entries: FromClause, wanted: bool) -> ColumnElement[bool]:
    """:func:`untagged` of each row of ``entries`` is ``wanted``."""
    tagged = _ENTRY_TAGS.alias()
    has = exists(select(tagged.c.entry_id).where(tagged.c.entry_id == entries.c.id))
    return ~has if wanted else has
