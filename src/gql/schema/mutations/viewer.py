"""The viewer's own account: access tokens (createAccessToken, revokeAccessToken),
settings (updateViewer) and favourite tasks (pinTask, unpinTask). Each acts on the viewer
only; another user's token reads as none. Pins write no event: they are personal.

A new token's secret is answered once: it travels in the run's ``Outcome.once``, never in
the stored result, so an idempotent replay answers the token with ``secret: null``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Info
from gql.schema.declare import DOMAIN_WORK
from gql.schema.errors import UserError, user_errors
from gql.schema.mutations.inputs import KEY_DOC
from gql.schema.mutations.runner import Done, Outcome, run_mutation
from gql.schema.types.enums import TokenScope
from gql.schema.types.team import Task
from gql.schema.types.token import AccessToken
from gql.schema.types.user import User
from store import accounts, models, pins, tokens
from store.errors import DomainError, ErrorCode
from store.events import EventLog
from store.timeutil import utcnow, utcnow_precise


@strawberry.input(description="A new personal access token of the viewer.")
class CreateAccessTokenInput:
    name: str = strawberry.field(description=f"A label, 1 to {tokens.MAX_NAME} characters.")
    expires_at: datetime | None = strawberry.field(
        default=None,
        description=f"Refused from this instant on; at most {tokens.MAX_LIFETIME.days} days "
        "ahead (null: never expires).",
    )
    scope: TokenScope = strawberry.field(
        default=TokenScope.WRITE, description="READ: queries and subscriptions only."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Revoke one of the viewer's tokens (the one in use too).")
class RevokeAccessTokenInput:
    id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Change the viewer's settings; fields left out stay as they are.")
class UpdateViewerInput:
    time_zone: str | None = strawberry.field(
        default=strawberry.UNSET, description="An IANA time zone such as Europe/Berlin."
    )
    locale: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"A language tag such as en or de-CH (at most {accounts.MAX_LOCALE}).",
    )
    nickname: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"1 to {accounts.MAX_NAME} characters."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Pin a task of one of the viewer's teams (a favourite).")
class PinTaskInput:
    task_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Unpin one of the viewer's pinned tasks.")
class UnpinTaskInput:
    task_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.type
class TaskPinPayload:
    task: Task | None = strawberry.field(description="The task, with `pinned` as it is now.")
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class CreateAccessTokenPayload:
    access_token: AccessToken | None
    secret: str | None = strawberry.field(
        description="The whole token, `pc_<prefix12>_<secret32>`: shown here only, once "
        "(null in a replay). Send it as `Authorization: Bearer <token>`."
    )
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class AccessTokenPayload:
    access_token: AccessToken | None
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class UpdateViewerPayload:
    viewer: User | None
    replayed: bool
    user_errors: list[UserError]


async def _token_of(info: Info, done: Done) -> models.AccessToken | None:
    token_id = done.outcome.result.get("accessToken") if done.outcome else None
    if token_id is None:
        return None
    async with info.context.db.read() as session:
        row = await session.get(models.AccessToken, token_id)
    # Only the viewer's own (a replay reads the token as it is now).
    return row if row is not None and row.user_id == info.context.viewer_id else None


async def _pin_payload(info: Info, done: Done) -> TaskPinPayload:
    task = None
    if done.outcome is not None:
        row = await info.context.loaders.task.load(done.outcome.result["task"])
        # A replay reads the task as it is now, and only of a team the viewer is still in.
        if row is not None and info.context.is_member(row.team_id):
            task = Task(row=row)
    return TaskPinPayload(task=task, replayed=done.replayed, user_errors=user_errors(done.errors))


def _given(value: Any, field: str) -> Any:
    """UNSET (left out) stays as it is; null is refused: these fields have no null."""
    if value is strawberry.UNSET:
        return accounts.UNCHANGED
    if value is None:
        raise DomainError(ErrorCode.VALIDATION, f"{field} cannot be null.", ("input", field))
    return value


@strawberry.type
class ViewerMutations:
    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Create a personal access token for the viewer; its secret is answered "
        "here only.",
    )
    async def create_access_token(
        self, info: Info, input: CreateAccessTokenInput
    ) -> CreateAccessTokenPayload:
        actor = info.context.viewer_id

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            issued = await tokens.issue_own(
                session,
                user_id=actor,
                name=input.name,
                scope=input.scope.value,
                expires_at=input.expires_at,
                now=utcnow_precise(),  # an expiry has microseconds
            )
            return Outcome({"accessToken": issued.row.id}, once={"secret": issued.token})

        done = await run_mutation(info, name="createAccessToken", input=input, work=work)
        row = await _token_of(info, done)
        secret = done.outcome.once.get("secret") if done.outcome and row else None
        return CreateAccessTokenPayload(
            access_token=AccessToken(row=row) if row else None,
            secret=secret,
            replayed=done.replayed,
            user_errors=user_errors(done.errors),
        )

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Revoke one of the viewer's tokens: refused from the next request on, "
        "and its subscriptions end.",
    )
    async def revoke_access_token(
        self, info: Info, input: RevokeAccessTokenInput
    ) -> AccessTokenPayload:
        actor, token_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            row = await tokens.revoke_own(session, user_id=actor, token_id=token_id, at=utcnow())
            return Outcome({"accessToken": row.id})

        done = await run_mutation(info, name="revokeAccessToken", input=input, work=work)
        row = await _token_of(info, done)
        return AccessTokenPayload(
            access_token=AccessToken(row=row) if row else None,
            replayed=done.replayed,
            user_errors=user_errors(done.errors),
        )

    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Change the viewer's time zone, locale or nickname."
    )
    async def update_viewer(self, info: Info, input: UpdateViewerInput) -> UpdateViewerPayload:
        actor = info.context.viewer_id

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            user = await accounts.update_viewer(
                session,
                user_id=actor,
                time_zone=_given(input.time_zone, "timeZone"),
                locale=_given(input.locale, "locale"),
                nickname=_given(input.nickname, "nickname"),
            )
            return Outcome({"user": user.id}, [user])

        done = await run_mutation(info, name="updateViewer", input=input, work=work)
        viewer = None
        if done.outcome is not None:
            row = await info.context.loaders.user.load(done.outcome.result["user"])
            viewer = User(row=row) if row is not None else None
        return UpdateViewerPayload(
            viewer=viewer, replayed=done.replayed, user_errors=user_errors(done.errors)
        )

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description=f"Pin a task for the viewer (a favourite; at most {pins.MAX_PINS} per "
        "team). Pinning a pinned task changes nothing.",
    )
    async def pin_task(self, info: Info, input: PinTaskInput) -> TaskPinPayload:
        actor, task_id = info.context.viewer_id, str(input.task_id)

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            task = await pins.pin(session, user_id=actor, task_id=task_id, now=utcnow_precise())
            return Outcome({"task": task.id}, [task])

        done = await run_mutation(info, name="pinTask", input=input, work=work)
        return await _pin_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Unpin a task for the viewer. Unpinning a task not pinned changes nothing.",
    )
    async def unpin_task(self, info: Info, input: UnpinTaskInput) -> TaskPinPayload:
        actor, task_id = info.context.viewer_id, str(input.task_id)

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            task = await pins.unpin(session, user_id=actor, task_id=task_id)
            return Outcome({"task": task.id}, [task])

        done = await run_mutation(info, name="unpinTask", input=input, work=work)
        return await _pin_payload(info, done)
