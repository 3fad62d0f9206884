"""Team, member, category and task management mutations."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Info
from gql.schema.declare import DOMAIN_WORK
from gql.schema.mutations import inputs as i
from gql.schema.mutations import payloads as p
from gql.schema.mutations.runner import Outcome, run_mutation
from store import accounts, archive, catalog, members
from store.errors import DomainError
from store.events import EventLog
from store.ids import parse_ulid
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
    "max_timer_hours",
    "overlap_policy",
)


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Enum) else v


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

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            team = await accounts.update_team(
                session,
                actor_id=actor,
                team_id=team_id,
                changes=changes,
                now=utcnow(),
                events=events,
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
            archived=input.archived,
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

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Remove a member (admins and owners; owners only for an owner), or leave "
        "the team (your own userId). Their entries stay, attributed to them; their running "
        "timer in the team stops now. The last owner cannot be removed (LAST_OWNER).",
    )
    async def remove_team_member(
        self, info: Info, input: i.RemoveTeamMemberInput
    ) -> p.RemoveTeamMemberPayload:
        ctx = info.context
        actor, team_id, user_id = ctx.viewer_id, str(input.team_id), str(input.user_id)

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            now = utcnow()
            stopped = await members.remove_member(
                session, actor_id=actor, team_id=team_id, user_id=user_id, now=now, events=events
            )
            result = {
                "team": team_id,
                "user": parse_ulid(user_id),
                "stoppedEntry": stopped.id if stopped else None,
            }
            return Outcome(result, [stopped] if stopped else [])

        done = await run_mutation(info, name="removeTeamMember", input=input, work=work)
        if done.outcome is not None and done.outcome.result.get("user") == actor:
            ctx.memberships.pop(team_id, None)  # left: the rest of the request reads so
        return await p.remove_member_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Change a member's role or rate (admins and owners; only owners make or "
        "unmake owners, and the last owner stays one). Entries made keep their rate.",
    )
    async def update_team_member(
        self, info: Info, input: i.UpdateTeamMemberInput
    ) -> p.TeamMemberPayload:
        actor, team_id = info.context.viewer_id, str(input.team_id)
        user_id = str(input.user_id)
        role = input.role.value if input.role is not None else None
        rate = members.UNSET if input.rate_cents is strawberry.UNSET else input.rate_cents

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            member = await members.update_member(
                session,
                actor_id=actor,
                team_id=team_id,
                user_id=user_id,
                role=role,
                rate_cents=rate,
                now=utcnow(),
                events=events,
            )
            return Outcome({"team": team_id, "user": member.user_id})

        done = await run_mutation(info, name="updateTeamMember", input=input, work=work)
        return await p.team_member_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Archive a team (owners): it stays readable by its members and refuses "
        "every change of its entries and catalogue (TEAM_ARCHIVED) until restored; its "
        "running timers stop now.",
    )
    async def archive_team(self, info: Info, input: i.ArchiveTeamInput) -> p.ArchiveTeamPayload:
        actor, team_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            team, stopped = await archive.archive_team(
                session, actor_id=actor, team_id=team_id, now=utcnow(), events=events
            )
            result = {"team": team.id, "stoppedEntries": [e.id for e in stopped]}
            return Outcome(result, [team, *stopped])

        done = await run_mutation(info, name="archiveTeam", input=input, work=work)
        return await p.archive_team_payload(info, done)

    @strawberry.mutation(
        metadata=DOMAIN_WORK, description="Make an archived team writable again (owners)."
    )
    async def restore_team(self, info: Info, input: i.RestoreTeamInput) -> p.TeamPayload:
        actor, team_id = info.context.viewer_id, str(input.id)

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            team = await archive.restore_team(
                session, actor_id=actor, team_id=team_id, now=utcnow(), events=events
            )
            return Outcome({"team": team.id}, [team])

        done = await run_mutation(info, name="restoreTeam", input=input, work=work)
        return await p.team_payload(info, done)
