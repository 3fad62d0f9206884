"""``store.paging`` directly, on both databases: every window of a small connection (any
cursor on either side, either direction, every size) against the same window cut from
the whole list in Python, as the Relay cursor spec defines it."""

from __future__ import annotations

import itertools
from typing import Any

from store import directory
from store.db import Database
from store.ids import new_id
from store.models import Task
from store.paging import Window
from tests.factories import make_team


def spec(ids: list[str], w: Window) -> tuple[list[str], bool, bool]:
    """The Relay cursor spec's page, hasNextPage and hasPreviousPage (the server tells
    what lies beyond a cursor)."""
    edges = ids
    if w.after is not None:
        edges = [i for i in edges if i > w.after[0]]
    if w.before is not None:
        edges = [i for i in edges if i < w.before[0]]
    if w.backward:
        page = edges[max(0, len(edges) - w.size) :] if w.size else []
        before_exists = w.before is not None and any(i >= w.before[0] for i in ids)
        return page, before_exists, len(edges) > w.size
    after_exists = w.after is not None and any(i <= w.after[0] for i in ids)
    return edges[: w.size], len(edges) > w.size, after_exists


async def test_every_window_is_the_spec_s(db: Database) -> None:
    world = await make_team(db, "Acme", prefix="a")
    async with db.write() as s:
        for n in range(5):
            s.add(Task(id=new_id(), team_id=world.id, key=f"K{n}", title="t"))
        await s.commit()
    async with db.read() as s:
        whole, _, _ = await directory.list_tasks(s, team_id=world.id, window=Window(100))
    ids = [t.id for t in whole]
    assert len(ids) == 7 and ids == sorted(ids)
    # Cursors of existing rows, and of ids between and beyond them (rows since deleted).
    cursors: list[Any] = [None, *((i,) for i in ids), ("0",), ("Z",), (ids[3][:-1] + "0",)]
    checked = 0
    async with db.read() as s:
        for after, before, size, backward in itertools.product(
            cursors, cursors, (0, 1, 2, 7), (False, True)
        ):
            w = Window(size, after, before, backward)
            rows, has_next, has_previous = await directory.list_tasks(s, team_id=world.id, window=w)
            assert ([r.id for r in rows], has_next, has_previous) == spec(ids, w), w
            checked += 1
    assert checked == len(cursors) ** 2 * 8
