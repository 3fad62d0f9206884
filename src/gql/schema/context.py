"""The per-request context: database, viewer, loaders and the request's instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import strawberry

from gql.schema.loaders import Loaders
from store.db import Database
from store.models import Membership, Role, User
from store.timeutil import utcnow
from store.tokens import Bearer


@dataclass
class Context:
    db: Database
    viewer: User | None
    memberships: dict[str, Membership]
    loaders: Loaders
    request_id: str
    now: datetime = field(default_factory=utcnow)
    services: Any = None
    request: Any = None
    response: Any = None
    token: str | None = None
    # The authenticated token: its id (``AccessToken.current``) and scope (a READ token
    # is refused every mutation, ``gql.guard.admission.admit``).
    bearer: Bearer | None = None
    connection_params: dict[str, Any] | None = None
    shared: bool = False  # executing a subscription on behalf of many subscribers
    cost: int | None = None  # points of the operation, once measured
    unavailable: bool = False  # the database could not be reached to authenticate
    rate_prepaid: Any = None  # gql.guard.ratelimit.Verdict of a charge made for this operation
    # The outcomes of the mutations the compiled path ran (``runner.Done``), and those
    # standard execution answers instead of running them again (gql.compiler.executor).
    dones: list[Any] | None = None
    # What the document reads of the entries a page resolver is about to read: their
    # attributes and those of their relations (``store.entry_pages.RELATIONS``) by
    # relation (None: all), joined into the page's statement.
    prefetch: dict[str, frozenset[str] | None] | None = None
    replay_dones: list[Any] | None = None

    @property
    def viewer_id(self) -> str:
        assert self.viewer is not None
        return self.viewer.id

    def is_member(self, team_id: str) -> bool:
        return team_id in self.memberships

    def is_admin(self, team_id: str) -> bool:
        m = self.memberships.get(team_id)
        return m is not None and m.role in (Role.ADMIN, Role.OWNER)


# The one typed ``Info`` every resolver takes.
Info = strawberry.Info[Context, None]
