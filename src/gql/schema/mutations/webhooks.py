"""createWebhook, updateWebhook, deleteWebhook: for a team's admins and owners."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.guard import webhook_urls
from gql.schema.changes import ChangeKind
from gql.schema.context import Info
from gql.schema.declare import DOMAIN_WORK
from gql.schema.errors import UserError, user_errors
from gql.schema.mutations.inputs import KEY_DOC
from gql.schema.mutations.runner import Done, Outcome, run_mutation
from gql.schema.types.webhook import Webhook
from store import models, webhooks
from store.errors import DomainError, ErrorCode
from store.events import EventLog
from store.timeutil import utcnow


@strawberry.input(description="Register an endpoint for the team's events of `kinds`.")
class CreateWebhookInput:
    team_id: strawberry.ID
    url: str = strawberry.field(description="http(s); it must resolve to public addresses.")
    kinds: list[ChangeKind]
    description: str | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Change a webhook; fields left out stay as they are.")
class UpdateWebhookInput:
    id: strawberry.ID
    url: str | None = strawberry.UNSET
    kinds: list[ChangeKind] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="true enables a disabled webhook again (its failures are cleared).",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input
class DeleteWebhookInput:
    id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.type
class CreateWebhookPayload:
    webhook: Webhook | None
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_…`): shown here only, keep it."
    )
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class WebhookPayload:
    webhook: Webhook | None
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class DeleteWebhookPayload:
    deleted_webhook_id: strawberry.ID | None
    replayed: bool
    user_errors: list[UserError]


async def _refused(info: Info, url: str) -> DomainError | None:
    """The URL rule (``gql.guard.webhook_urls``) as a VALIDATION error on the url field."""
    try:
        await webhook_urls.vet(
            url, allow_private=info.context.services.settings.webhooks_allow_private
        )
    except webhook_urls.Refused as exc:
        return DomainError(ErrorCode.VALIDATION, str(exc), ("input", "url"))
    return None


def _given(value: Any, field: str) -> Any:
    """UNSET (left out) stays as it is; null is refused: these fields have no null."""
    if value is strawberry.UNSET:
        return webhooks.UNSET
    if value is None:
        raise DomainError(ErrorCode.VALIDATION, f"{field} cannot be null.", ("input", field))
    return value


async def _webhook_of(info: Info, done: Done) -> tuple[models.Webhook | None, Done]:
    webhook_id = done.outcome.result.get("webhook") if done.outcome else None
    if webhook_id is None:
        return None, done
    async with info.context.db.read() as session:
        return await session.get(models.Webhook, webhook_id), done


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Register a webhook (admins and owners)."
    )
    async def create_webhook(self, info: Info, input: CreateWebhookInput) -> CreateWebhookPayload:
        actor, team_id = info.context.viewer_id, str(input.team_id)
        refused = await _refused(info, input.url)
        if refused is not None:
            return CreateWebhookPayload(
                webhook=None, secret=None, replayed=False, user_errors=user_errors([refused])
            )

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            row = await webhooks.create(
                session,
                actor_id=actor,
                team_id=team_id,
                url=input.url,
                kinds=[k.value for k in input.kinds],
                description=input.description or "",
                now=utcnow(),
            )
            return Outcome({"webhook": row.id})

        row, done = await _webhook_of(
            info, await run_mutation(info, name="createWebhook", input=input, work=work)
        )
        return CreateWebhookPayload(
            webhook=Webhook.from_row(row) if row else None,
            secret=row.secret if row else None,
            replayed=done.replayed,
            user_errors=user_errors(done.errors),
        )

    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Change, disable or enable again a webhook."
    )
    async def update_webhook(self, info: Info, input: UpdateWebhookInput) -> WebhookPayload:
        actor, webhook_id = info.context.viewer_id, str(input.id)
        if isinstance(input.url, str):
            refused = await _refused(info, input.url)
            if refused is not None:
                return WebhookPayload(
                    webhook=None, replayed=False, user_errors=user_errors([refused])
                )

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            kinds = _given(input.kinds, "kinds")
            row = await webhooks.update(
                session,
                actor_id=actor,
                webhook_id=webhook_id,
                now=utcnow(),
                url=_given(input.url, "url"),
                kinds=kinds if kinds is webhooks.UNSET else [k.value for k in kinds],
                description=_given(input.description, "description"),
                enabled=_given(input.enabled, "enabled"),
            )
            return Outcome({"webhook": row.id})

        row, done = await _webhook_of(
            info, await run_mutation(info, name="updateWebhook", input=input, work=work)
        )
        return WebhookPayload(
            webhook=Webhook.from_row(row) if row else None,
            replayed=done.replayed,
            user_errors=user_errors(done.errors),
        )

    @strawberry.mutation(metadata=DOMAIN_WORK, description="Delete a webhook and its delivery log.")
    async def delete_webhook(self, info: Info, input: DeleteWebhookInput) -> DeleteWebhookPayload:
        actor, webhook_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            gone = await webhooks.remove(session, actor_id=actor, webhook_id=webhook_id)
            return Outcome({"deleted": gone})

        done = await run_mutation(info, name="deleteWebhook", input=input, work=work)
        deleted = done.outcome.result.get("deleted") if done.outcome else None
        return DeleteWebhookPayload(
            deleted_webhook_id=strawberry.ID(deleted) if deleted else None,
            replayed=done.replayed,
            user_errors=user_errors(done.errors),
        )
