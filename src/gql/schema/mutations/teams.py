"""Team, member, category and task management mutations."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Info
from gql.schema.declare import DOMAIN_WORK
from gql.schema.mutations import inputs as i
from gql.schema.mutations import payloads as p
from gql.schema.mutations.runner import Outcome, run_mutation
from store import accounts, catalog
from store.errors import DomainError
from store.events import EventLog
from store.models import Rounding
from store.timeutil import utcnow

TEAM_FIELDS = (
    "name",
    "time_zone",
    "week_start",
    "rounding",
    "rounding_minutes",
    "default_billable",
    "default_rate_cents",
    "tasks_readonly",
)


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Rounding) else v


def _given(data: object, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        v = getattr(data, name)
        if v is not None and v is not strawberry.UNSET:
            out[name] = _value(v)
    return out


def _keep(v: Any) -> Any:
    """UNSET (left out) maps to the store's 'unchanged'; anything else is the new value."""
    if v is strawberry.UNSET:
        return catalog.UNSET
    return v


@strawberry.type
class TeamMutations:
    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Create a team; the viewer becomes its OWNER."
    )
    async def create_team(self, info: Info, input: i.CreateTeamInput) -> p.TeamPayload:
        actor = info.context.viewer_id
        fields = _given(input, TEAM_FIELDS)

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            try:
                team = await accounts.create_team(session, owner_id=actor, **fields)
            except DomainError as exc:
                raise DomainError(exc.code, exc.message, ("input", *exc.field)) from exc
            return Outcome({"team": team.id}, [team])

        return await p.team_payload(
            info, await run_mutation(info, name="createTeam", input=input, work=work)
        )

    @strawberry.mutation(metadata=DOMAIN_WORK)
    async def update_team(self, info: Info, input: i.UpdateTeamInput) -> p.TeamPayload:
        actor, team_id = info.context.viewer_id, str(input.id)
        changes = _given(input, TEAM_FIELDS)

        async def work(session: AsyncSession, _e: EventLog, _d: str) -> Outcome:
            team = await accounts.update_team(
                session, actor_id=actor, team_id=team_id, changes=changes, now=utcnow()
            )
            return Outcome({"team": team.id}, [team])

        return await p.team_payload(
            info, await run_mutation(info, name="updateTeam", input=input, work=work)
        )

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Add a member by userId or email, or change their role/rate.",
    )
    async def add_team_member(self, info: Info, input: i.AddTeamMemberInput) -> p.TeamMemberPayload:
        actor, team_id = info.context.viewer_id, str(input.team_id)

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            member = await accounts.add_member_as(
                session,
                actor_id=actor,
                team_id=team_id,
                user_id=str(input.user_id) if input.user_id is not None else None,
                email=input.email,
                role=input.role.value,
                rate_cents=input.rate_cents,
                events=events,
                now=utcnow(),
            )
            return Outcome({"team": team_id, "user": member.user_id})

        done = await run_mutation(info, name="addTeamMember", input=input, work=work)
        return await p.team_member_payload(info, done)

    @strawberry.mutation(metadata=DOMAIN_WORK)
    async def create_category(self, info: Info, input: i.CreateCategoryInput) -> p.CategoryPayload:
        actor, team_id = info.context.viewer_id, str(input.team_id)
        fields = catalog.CategoryFields(
            title=input.title,
            key=input.key,
            parent_id=str(input.parent_id) if input.parent_id is not None else None,
            color=input.color,
            position=input.position,
            archived=input.archived,
            billable=input.billable,
            rate_cents=input.rate_cents,
        )

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            category = await catalog.create_category(
                session,
                actor_id=actor,
                team_id=team_id,
                fields=fields,
                now=utcnow(),
                events=events,
            )
            return Outcome({"category": category.id}, [category])

        done = await run_mutation(info, name="createCategory", input=input, work=work)
        return await p.category_payload(info, done)

    @strawberry.mutation(metadata=DOMAIN_WORK)
    async def update_category(self, info: Info, input: i.UpdateCategoryInput) -> p.CategoryPayload:
        actor, category_id = info.context.viewer_id, str(input.id)
        fields = catalog.CategoryFields(
            title=input.title,
            key=_keep(input.key),
            parent_id=_keep(input.parent_id),  # an ID is a str
            color=_keep(input.color),
            position=input.position,
            archived=input.archived,
            billable=_keep(input.billable),
            rate_cents=_keep(input.rate_cents),
        )

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            category = await catalog.update_category(
                session,
                actor_id=actor,
                category_id=category_id,
                fields=fields,
                now=utcnow(),
                events=events,
            )
            return Outcome({"category": category.id}, [category])

        done = await run_mutation(info, name="updateCategory", input=input, work=work)
        return await p.category_payload(info, done)

    @strawberry.mutation(metadata=DOMAIN_WORK)
    async def create_task(self, info: Info, input: i.CreateTaskInput) -> p.TaskPayload:
        actor, team_id = info.context.viewer_id, str(input.team_id)
        fields = catalog.TaskFields(
            key=input.key,
            title=input.title,
            url=input.url,
            category_id=str(input.category_id) if input.category_id is not None else None,
            state=input.state.value if input.state else None,
            description=input.description,
        )

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            task = await catalog.create_task(
                session,
                actor_id=actor,
                team_id=team_id,
                fields=fields,
                now=utcnow(),
                events=events,
            )
            return Outcome({"task": task.id}, [task])

        return await p.task_payload(
            info, await run_mutation(info, name="createTask", input=input, work=work)
        )

    @strawberry.mutation(metadata=DOMAIN_WORK)
    async def update_task(self, info: Info, input: i.UpdateTaskInput) -> p.TaskPayload:
        actor, task_id = info.context.viewer_id, str(input.id)
        fields = catalog.TaskFields(
            key=input.key,
            title=input.title,
            url=_keep(input.url),
            category_id=_keep(input.category_id),
            state=input.state.value if input.state else None,
            description=_keep(input.description),
        )

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            task = await catalog.update_task(
                session,
                actor_id=actor,
                task_id=task_id,
                fields=fields,
                now=utcnow(),
                events=events,
            )
            return Outcome({"task": task.id}, [task])

        return await p.task_payload(
            info, await run_mutation(info, name="updateTask", input=input, work=work)
        )
