"""The Mutation root, composed from the domain modules."""

from __future__ import annotations

from strawberry.tools import merge_types

from gql.schema.mutations.bulk import BulkMutations
from gql.schema.mutations.entries import EntryMutations
from gql.schema.mutations.tags import TagMutations
from gql.schema.mutations.teams import TeamMutations
from gql.schema.mutations.timers import TimerMutations
from gql.schema.mutations.viewer import ViewerMutations
from gql.schema.mutations.webhooks import WebhookMutations

Mutation = merge_types(
    "Mutation",
    (
        EntryMutations,
        BulkMutations,
        TimerMutations,
        TeamMutations,
        TagMutations,
        WebhookMutations,
        ViewerMutations,
    ),
)
