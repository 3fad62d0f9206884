"""GraphQL enums, named as the contract names them, backed by the store's enums.

``strawberry.enum`` registers the GraphQL definition on the store's classes, so fields are
annotated with the store enums themselves and values pass through unconverted.
"""

from __future__ import annotations

import strawberry

from store.models import (
    EntryAction,
    EntryStatus,
    InputType,
    OverlapPolicy,
    Role,
    Rounding,
    ScopeType,
    Source,
    TaskState,
    TokenScope,
)
from store.tag_rules import TagMatch

for _enum in (EntryStatus, InputType, Role, Rounding, ScopeType, Source, TaskState):
    strawberry.enum(_enum)
strawberry.enum(
    EntryAction,
    description="What a change of a time entry was (`TimeEntry.history`): CREATED (logged, "
    "started, continued, duplicated), UPDATED (edited), STOPPED (stopTimer, a new timer, or "
    "a team command stopping it), AUTO_STOPPED (stopped at the team's timer limit), "
    "TRANSITIONED (a status change), DELETED, RESTORED.",
)
strawberry.enum(
    OverlapPolicy,
    description="What a team does with a write that makes two entries of one user overlap: "
    "accept it (ALLOW), accept it with a warning in the payload's `warnings` (WARN), or "
    "refuse it with OVERLAP (REFUSE).",
)
strawberry.enum(
    TagMatch,
    description="How a filter's `tagIds` match an entry: ANY, one of them; ALL, every one.",
)
strawberry.enum(
    TokenScope,
    description="READ: queries and subscriptions only; WRITE: mutations too.",
)

__all__ = [
    "EntryAction",
    "EntryStatus",
    "InputType",
    "OverlapPolicy",
    "Role",
    "Rounding",
    "ScopeType",
    "Source",
    "TagMatch",
    "TaskState",
    "TokenScope",
]
