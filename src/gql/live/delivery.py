"""The webhook deliverer: a background task of the app (``gql.server.app`` lifespan).

It leases the webhooks that have undelivered events and are due
(``store.webhooks.lease_due``), up to ``webhooks_concurrency`` at once, and drains each
in a task of its own, one event at a time: read the team's outbox after the webhook's
cursor, POST each wanted event, and move the cursor only after a 2xx. A failure records
the attempt, sets the next one (backoff with jitter) and ends that webhook's turn: the
events behind it wait, so an endpoint sees a team's events in order (at least once: a process killed
between the endpoint's 2xx and the cursor's commit leaves that event to be sent again).

Each POST carries ``Punchclock-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is
HMAC-SHA256 with the webhook's secret over ``"<t>.<body>"`` (the scheme Stripe documents),
computed with the standard library's ``hmac``. Sending is httpx, with a timeout, no
redirects, and the response body left unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import socket
import time
from datetime import timedelta

import httpx
import orjson

from gql.guard import webhook_urls
from gql.schema.scalars import serialize_datetime
from gql.schema.types.pagination import event_cursor
from gql.settings import Settings
from store import outbox, webhooks
from store.db import Database
from store.events import EntryEvent
from store.ids import new_id
from store.models import Webhook
from store.timeutil import utcnow

log = logging.getLogger("punchclock.webhooks")

SIGNATURE_HEADER = "Punchclock-Signature"
BATCH = 100  # events read from the outbox at a time


def body_of(hook: Webhook, event: EntryEvent) -> bytes:
    """The JSON body of one event, as a webhook receives it."""
    assert event.position is not None
    return orjson.dumps(
        {
            "webhookId": hook.id,
            "teamId": event.team_id,
            "cursor": event_cursor(event.position),
            "kind": event.kind.value,
            "subject": event.subject.value,
            "subjectId": event.entry_id,
            "userId": event.user_id,
            "version": event.version,
            "occurredAt": serialize_datetime(event.occurred_at),
        }
    )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Punchclock-Signature`` header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _forget(active: dict[str, asyncio.Task[None]], key: str, _: object) -> None:
    active.pop(key, None)


class Deliverer:
    """Delivers every webhook this process holds a lease on; ``run`` loops until
    cancelled. ``owner`` names the process in ``webhooks.lease_owner`` (host, pid, id)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id()}"[:100]
        self.policy = webhooks.RetryPolicy(
            base=timedelta(seconds=settings.webhooks_retry_base_seconds),
            cap=timedelta(seconds=settings.webhooks_retry_max_seconds),
            window=timedelta(seconds=settings.webhooks_disable_after_seconds),
        )
        # Long enough for a POST at its timeout and the writes around it; renewed after
        # every event, so it only runs out for a process that died or stalled.
        self.lease_for = timedelta(seconds=3 * settings.webhooks_timeout_seconds + 5)
        self.client = httpx.AsyncClient(
            timeout=settings.webhooks_timeout_seconds,
            follow_redirects=False,
            headers={"user-agent": "Punchclock-Webhooks/1"},
        )

    async def run(self) -> None:
        """Lease due webhooks, up to ``webhooks_concurrency`` at once, and drain each in a
        task of its own (a slow endpoint holds up only itself)."""
        active: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                leased: list[Webhook] = []
                free = self.settings.webhooks_concurrency - len(active)
                try:
                    if free > 0:
                        leased = await self.lease(free)
                except Exception as exc:  # a lost database must not end the loop
                    log.warning("webhook lease failed: %r", exc)
                for hook in leased:
                    task = asyncio.create_task(self.drain(hook))
                    active[hook.id] = task
                    task.add_done_callback(functools.partial(_forget, active, hook.id))
                if not leased:
                    await asyncio.sleep(self.settings.webhooks_poll_seconds)
        finally:
            for task in list(active.values()):
                task.cancel()
            await asyncio.gather(*active.values(), return_exceptions=True)
            await self.client.aclose()

    async def lease(self, limit: int) -> list[Webhook]:
        now = utcnow()
        async with self.db.read() as session:
            if not await webhooks.any_due(session, now=now):
                return []
        async with self.db.write() as session:
            hooks = await webhooks.lease_due(
                session, owner=self.owner, now=now, until=now + self.lease_for, limit=limit
            )
            await session.commit()
        return hooks

    async def drain(self, hook: Webhook) -> None:
        """Send the webhook's events until none is left or one fails, then give up the
        lease (a failure has given it up already)."""
        try:
            while True:
                async with self.db.read() as session:
                    events = await outbox.read_after(
                        session, team_id=hook.team_id, after=hook.cursor, limit=BATCH
                    )
                if not events:
                    break
                skip_to = None
                for event in events:
                    assert event.position is not None
                    if not webhooks.wants(hook, event):
                        skip_to = event.position
                        continue
                    skip_to = None
                    if not await self.send(hook, event):
                        return
                if skip_to is not None and not await self._skip(hook, skip_to):
                    return
        except Exception as exc:  # the lease runs out; it is leased again
            log.warning("webhook %s: delivery failed: %r", hook.id, exc)
        finally:
            with contextlib.suppress(Exception):
                async with self.db.write() as session:
                    await webhooks.release(session, webhook_id=hook.id, owner=self.owner)
                    await session.commit()

    async def _skip(self, hook: Webhook, position: int) -> bool:
        async with self.db.write() as session:
            kept = await webhooks.skipped(
                session,
                hook=hook,
                owner=self.owner,
                position=position,
                until=utcnow() + self.lease_for,
            )
            await session.commit()
        return kept

    async def send(self, hook: Webhook, event: EntryEvent) -> bool:
        """POST one event and record the attempt; whether the webhook goes on."""
        body = body_of(hook, event)
        status: int | None = None
        error = ""
        try:
            target = await webhook_urls.vet(
                hook.url, allow_private=self.settings.webhooks_allow_private
            )
            url, host, extensions = webhook_urls.pinned(target)
            headers = {
                **host,
                "content-type": "application/json",
                SIGNATURE_HEADER: signature(hook.secret, int(time.time()), body),
                "Punchclock-Webhook-Id": hook.id,
                "Punchclock-Event-Cursor": event_cursor(event.position or 0),
            }
            request = self.client.build_request(
                "POST", url, content=body, headers=headers, extensions=extensions
            )
            response = await self.client.send(request, stream=True)
            await response.aclose()  # the answer's status is all we keep
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except webhook_urls.Refused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        now = utcnow()
        async with self.db.write() as session:
            if not error:
                assert status is not None
                kept = await webhooks.succeeded(
                    session,
                    hook=hook,
                    owner=self.owner,
                    event=event,
                    status_code=status,
                    now=now,
                    until=now + self.lease_for,
                )
            else:
                kept = await webhooks.failed(
                    session,
                    hook=hook,
                    owner=self.owner,
                    event=event,
                    status_code=status,
                    error=error,
                    now=now,
                    policy=self.policy,
                )
                log.info("webhook %s: %s (event %s)", hook.id, error, event.position)
            await session.commit()
        return kept and not error
