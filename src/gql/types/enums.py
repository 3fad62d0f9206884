"""GraphQL enums, named as the contract names them, backed by the store's values."""

from __future__ import annotations

import strawberry

from store import models

Role = strawberry.enum(models.Role, name="Role")
Rounding = strawberry.enum(models.Rounding, name="Rounding")
TaskState = strawberry.enum(models.TaskState, name="TaskState")
ScopeType = strawberry.enum(models.ScopeType, name="ScopeType")
EntryStatus = strawberry.enum(models.EntryStatus, name="EntryStatus")
InputType = strawberry.enum(models.InputType, name="InputType")
Source = strawberry.enum(models.Source, name="Source")
