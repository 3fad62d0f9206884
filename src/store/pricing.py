"""Billing defaults: which of member, category chain and team decides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Priced(Protocol):
    @property
    def billable(self) -> bool | None: ...

    @property
    def rate_cents(self) -> int | None: ...


def resolve_billable(explicit: bool | None, chain: Sequence[Priced], team_default: bool) -> bool:
    """Explicit wins; else the nearest category (the task's, then up) that sets one; else team."""
    if explicit is not None:
        return explicit
    for category in chain:
        if category.billable is not None:
            return category.billable
    return team_default


def resolve_rate_cents(
    member_rate: int | None, chain: Sequence[Priced], team_default_rate: int
) -> int:
    """The member's rate; else the nearest category's; else the team's default."""
    if member_rate is not None:
        return member_rate
    for category in chain:
        if category.rate_cents is not None:
            return category.rate_cents
    return team_default_rate
