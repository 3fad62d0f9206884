"""Billing defaults: which of member, category chain and team decides.

A category chain is the task's (or entry's) category first, then its ancestors upward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Priced(Protocol):
    """What billing reads of a category; :class:`store.models.Category` fits."""

    @property
    def billable(self) -> bool | None: ...

    @property
    def rate_cents(self) -> int | None: ...


def resolve_billable(
    explicit: bool | None, category_chain: Sequence[Priced], team_default: bool
) -> bool:
    """Explicit wins; else the nearest category that sets one; else the team's default."""
    if explicit is not None:
        return explicit
    for category in category_chain:
        if category.billable is not None:
            return category.billable
    return team_default


def resolve_rate_cents(
    member_rate: int | None, category_chain: Sequence[Priced], team_default_rate: int
) -> int:
    """The member's rate; else the nearest category's that sets one; else the team's default.

    A rate of 0 is a rate, not "unset": only None falls through.
    """
    if member_rate is not None:
        return member_rate
    for category in category_chain:
        if category.rate_cents is not None:
            return category.rate_cents
    return team_default_rate
