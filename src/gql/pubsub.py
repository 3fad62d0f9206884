"""The single place committed changes are published from."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from store.events import EntryEvent

log = logging.getLogger("punchclock.pubsub")

Listener = Callable[[EntryEvent], None]


class EventBus:
    """Hands committed entry events to listeners (the subscription layer hooks in here).

    ``publish`` is called only after a transaction commits, never for a rolled-back one.
    A failing listener is logged and does not affect the mutation's answer.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def publish(self, events: Sequence[EntryEvent]) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log.exception("event listener failed for %s", event)
