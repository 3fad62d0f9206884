"""GraphQL enums, named as the contract names them, backed by the store's enums.

``strawberry.enum`` registers the GraphQL definition on the store's classes, so fields are
annotated with the store enums themselves and values pass through unconverted.
"""

from __future__ import annotations

import strawberry

from store.models import (
    EntryStatus,
    InputType,
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
    TagMatch,
    description="How a filter's `tagIds` match an entry: ANY, one of them; ALL, every one.",
)
strawberry.enum(
    TokenScope,
    description="READ: queries and subscriptions only; WRITE: mutations too.",
)

__all__ = [
    "EntryStatus",
    "InputType",
    "Role",
    "Rounding",
    "ScopeType",
    "Source",
    "TagMatch",
    "TaskState",
    "TokenScope",
]
