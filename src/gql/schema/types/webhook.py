"""A team's webhooks and their delivery attempts (admins only: ``Team.webhooks``)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gql.schema.changes import ChangeKind
from gql.schema.context import Info
from gql.schema.declare import PAGED
from gql.schema.types.node import Node
from gql.schema.types.pagination import (
    Connection,
    decode_number_cursor,
    event_cursor,
    id_cursor,
    page_window,
)
from store import models, webhooks
from store.events import Subject


@strawberry.type(description="One attempt to deliver one event to a webhook.")
class WebhookDelivery:
    cursor: str = strawberry.field(description="The event's cursor (as in `teamChanges`).")
    kind: ChangeKind
    subject: Subject
    subject_id: strawberry.ID
    attempt: int = strawberry.field(description="1 for the first try of this event, then 2, …")
    status_code: int | None = strawberry.field(description="The endpoint's HTTP status, if any.")
    error: str | None = strawberry.field(description="Why it failed (null: a 2xx).")
    at: datetime
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried again (failed attempts, unless the webhook was disabled)."
    )

    @classmethod
    def from_row(cls, row: models.WebhookDelivery) -> WebhookDelivery:
        return cls(
            cursor=event_cursor(row.position),
            kind=ChangeKind(row.kind),
            subject=Subject(row.subject),
            subject_id=strawberry.ID(row.subject_id),
            attempt=row.attempt,
            status_code=row.status_code,
            error=row.error,
            at=row.at,
            next_attempt_at=row.next_attempt_at,
        )


@strawberry.type(
    description="An endpoint that receives the team's events of `kinds`, signed (README: Webhooks)."
)
class Webhook(Node):
    row: strawberry.Private[models.Webhook]
    id: strawberry.ID
    url: str
    description: str
    kinds: list[ChangeKind]
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why it stopped: failing for too long, or disabled by an admin."
    )
    cursor: str = strawberry.field(description="The last event delivered (or not wanted).")
    failing_since: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: models.Webhook) -> Webhook:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            url=row.url,
            description=row.description,
            kinds=[ChangeKind(k) for k in webhooks.kinds_of(row)],
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            cursor=event_cursor(row.cursor),
            failing_since=row.failing_since,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(metadata=PAGED, description="Delivery attempts, newest first.")
    async def deliveries(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WebhookDelivery]:
        ctx = info.context
        window = page_window(first, after, last, before, _delivery_key)
        async with ctx.db.read() as session:
            rows, has_next, has_previous = await webhooks.deliveries(
                session, webhook_id=self.row.id, window=window
            )

        async def count() -> int:
            async with ctx.db.read() as session:
                return await webhooks.count_deliveries(session, webhook_id=self.row.id)

        nodes = [WebhookDelivery.from_row(r) for r in rows]
        cursors = {id(n): id_cursor("wd", str(r.id)) for n, r in zip(nodes, rows, strict=True)}
        return Connection.build(
            nodes,
            lambda n: cursors[id(n)],
            has_next=has_next,
            has_previous=has_previous,
            count=count,
        )


def _delivery_key(cursor: str) -> tuple[int]:
    return (decode_number_cursor("wd", cursor),)
