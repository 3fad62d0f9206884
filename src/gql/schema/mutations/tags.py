"""Tag management (issue 20): createTag, updateTag, archiveTag, restoreTag, for admins and
owners. Members put tags on entries through the entries' own ``tagIds``."""

from __future__ import annotations

import strawberry
from sqlmodel.ext.asyncio.session import AsyncSession

from gql.schema.context import Info
from gql.schema.declare import DOMAIN_WORK
from gql.schema.errors import UserError, user_errors
from gql.schema.mutations.inputs import KEY_DOC
from gql.schema.mutations.runner import Done, Outcome, run_mutation
from gql.schema.types.team import Tag
from store import tags
from store.events import EventLog
from store.timeutil import utcnow

NAME_DOC = f"Trimmed; 1 to {tags.MAX_NAME} characters, unique in any case among live tags."
COLOR_DOC = f"An RGB colour, 0xRRGGBB (0 to {tags.MAX_COLOR}), or null."


@strawberry.input(description="A new tag of the team (admins and owners).")
class CreateTagInput:
    team_id: strawberry.ID
    name: str = strawberry.field(description=NAME_DOC)
    color: int | None = strawberry.field(default=None, description=COLOR_DOC)
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Rename or recolour a tag; fields left out stay as they are.")
class UpdateTagInput:
    id: strawberry.ID
    name: str | None = strawberry.field(default=None, description=NAME_DOC)
    color: int | None = strawberry.field(default=strawberry.UNSET, description=COLOR_DOC)
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.input(description="Archive or restore a tag (admins and owners).")
class ArchiveTagInput:
    id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=KEY_DOC)


@strawberry.type
class TagPayload:
    tag: Tag | None
    replayed: bool
    user_errors: list[UserError]


async def _payload(info: Info, done: Done) -> TagPayload:
    tag = None
    if done.outcome is not None:
        row = await info.context.loaders.tag.load(done.outcome.result["tag"])
        # A replay reads the tag as it is now, and only of a team the viewer is still in.
        if row is not None and info.context.is_member(row.team_id):
            tag = Tag(row=row)
    return TagPayload(tag=tag, replayed=done.replayed, user_errors=user_errors(done.errors))


@strawberry.type
class TagMutations:
    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Create a tag of the team (admins and owners; FORBIDDEN for members).",
    )
    async def create_tag(self, info: Info, input: CreateTagInput) -> TagPayload:
        actor, team_id = info.context.viewer_id, str(input.team_id)

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            tag = await tags.create_tag(
                session,
                actor_id=actor,
                team_id=team_id,
                name=input.name,
                color=input.color,
                now=utcnow(),
                events=events,
            )
            return Outcome({"tag": tag.id}, [tag])

        return await _payload(
            info, await run_mutation(info, name="createTag", input=input, work=work)
        )

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Rename or recolour a tag (admins and owners); its entries keep it.",
    )
    async def update_tag(self, info: Info, input: UpdateTagInput) -> TagPayload:
        actor, tag_id = info.context.viewer_id, str(input.id)
        color = tags.UNSET if input.color is strawberry.UNSET else input.color

        async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
            tag = await tags.update_tag(
                session,
                actor_id=actor,
                tag_id=tag_id,
                name=input.name,
                color=color,
                now=utcnow(),
                events=events,
            )
            return Outcome({"tag": tag.id}, [tag])

        return await _payload(
            info, await run_mutation(info, name="updateTag", input=input, work=work)
        )

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Archive a tag (admins and owners): it stays on its entries, in filters "
        "and reports, and takes no new entries (TAG_ARCHIVED); its name is free again.",
    )
    async def archive_tag(self, info: Info, input: ArchiveTagInput) -> TagPayload:
        return await _set_archived(info, input, archived=True, name="archiveTag")

    @strawberry.mutation(
        metadata=DOMAIN_WORK,
        description="Make an archived tag live again (admins and owners); VALIDATION when a "
        "live tag has taken its name meanwhile.",
    )
    async def restore_tag(self, info: Info, input: ArchiveTagInput) -> TagPayload:
        return await _set_archived(info, input, archived=False, name="restoreTag")


async def _set_archived(
    info: Info, input: ArchiveTagInput, *, archived: bool, name: str
) -> TagPayload:
    actor, tag_id = info.context.viewer_id, str(input.id)

    async def work(session: AsyncSession, events: EventLog, _d: str) -> Outcome:
        tag = await tags.set_archived(
            session, actor_id=actor, tag_id=tag_id, archived=archived, now=utcnow(), events=events
        )
        return Outcome({"tag": tag.id}, [tag])

    return await _payload(info, await run_mutation(info, name=name, input=input, work=work))
