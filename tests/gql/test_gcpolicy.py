"""The GC policy: survivors of a full collection are frozen, frozen cyclic garbage waits
for the next unfreeze and is collected then, and the last release restores the defaults."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from pathlib import Path

from gql.server import gcpolicy
from gql.server.app import create_app
from gql.settings import Settings


class Cycle:
    """Refers to itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def _installed() -> bool:
    return gcpolicy._freeze_survivors in gc.callbacks


def test_frozen_cyclic_garbage_is_collected_once_unfrozen() -> None:
    gcpolicy.install()
    try:
        node = Cycle()
        ref = weakref.ref(node)
        gc.collect()  # a full collection: the node survives it and is frozen
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert ref() is not None, "frozen garbage waits for the next unfreeze"
        gc.unfreeze()
        gc.collect()
        assert ref() is None
    finally:
        gcpolicy.release()
    assert not _installed() and gc.get_freeze_count() == 0


def test_the_last_release_restores_the_defaults() -> None:
    gcpolicy.install()
    gcpolicy.install()
    gcpolicy.release()
    assert _installed(), "another user still runs"
    gcpolicy.release()
    assert not _installed()
    gc.collect()
    assert gc.get_freeze_count() == 0


async def test_unfreeze_every_hands_frozen_objects_back() -> None:
    gcpolicy.install()
    try:
        node = Cycle()
        ref = weakref.ref(node)
        gc.collect()
        del node
        unfreezer = asyncio.create_task(gcpolicy.unfreeze_every(0.01))
        await asyncio.sleep(0.1)
        unfreezer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await unfreezer
        gc.collect()
        assert ref() is None
    finally:
        gcpolicy.release()


async def test_the_app_holds_the_policy_while_it_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gc.db'}"
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        assert _installed()
    assert not _installed()
    off = create_app(Settings(database_url=url, gc_freeze=False))
    async with off.router.lifespan_context(off):
        assert not _installed()
