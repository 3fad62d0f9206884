"""Keep full garbage collections short while thousands of WebSockets stay open.

Each open subscription keeps ~240 container objects alive (protocol, handler, tasks,
queues). CPython's full collection walks every tracked object, so with 2,000 subscribers
(~530,000 objects) one pause took ~480 ms, and every event delivered meanwhile was late
by that much (bench/README.md). Objects that survive a full collection have proven
long-lived: :func:`install` moves them to the permanent generation (``gc.freeze``) after
each one, so the next walks only what is newer (~50-70 ms at 2,000 subscribers).

The price: a frozen object that later becomes part of unreachable cycles (a closed
connection's tasks and exceptions) is not collected while frozen. Plain reference
counting still frees everything else at once. :func:`unfreeze_every` hands the frozen
objects back to the collector every period, so such garbage waits one period at most;
that costs one full-size collection per period instead of one each time the heap grows
by a quarter.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

log = logging.getLogger("punchclock.gc")


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


class _Policy:
    """Process-wide, as the collector is: in use while any app of the process runs."""

    users = 0


def install() -> None:
    """Freeze the survivors of every full collection, in this process, until every
    :func:`install` has had its :func:`release`."""
    _Policy.users += 1
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def release() -> None:
    """One user fewer; the last one puts CPython's defaults back (nothing frozen)."""
    _Policy.users = max(0, _Policy.users - 1)
    if _Policy.users == 0:
        while _freeze_survivors in gc.callbacks:
            gc.callbacks.remove(_freeze_survivors)
        gc.unfreeze()


async def unfreeze_every(seconds: float) -> None:
    """Give frozen objects back to the collector every ``seconds`` (until cancelled)."""
    while True:
        await asyncio.sleep(seconds)
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        log.debug("unfroze %d objects for the next full collection", frozen)
