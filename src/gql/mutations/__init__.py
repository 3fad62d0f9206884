"""The Mutation root, composed from the domain modules."""

from __future__ import annotations

from strawberry.tools import merge_types

from gql.mutations.entries import EntryMutations
from gql.mutations.teams import TeamMutations
from gql.mutations.timers import TimerMutations
from gql.mutations.webhooks import WebhookMutations

Mutation = merge_types(
    "Mutation", (EntryMutations, TimerMutations, TeamMutations, WebhookMutations)
)
