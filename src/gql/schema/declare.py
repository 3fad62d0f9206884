"""One declaration per field: what it reads, how its value is computed, who may see it.

Every field of an object type is declared once, with one of the helpers below (or, for a
value object such as ``PageInfo``, as a plain Strawberry attribute). Each helper returns a
``strawberry.field`` whose resolver (standard execution, introspection, the reference) is
derived from its arguments, and whose plan (``metadata[PLAN]``) is what ``gql.compiler``
runs: the same function, or the same loader and key, applied to every parent of a level
at once. Adding a field is one line in its type; the compiler needs nothing else, and
``tests/gql/test_declarations.py`` fails for a field it could not plan.

Objects of row types hold their row (an ORM instance or a Core row: both are read by
attribute) in ``row``; their classes are built with ``Type(row=row)``.

Strawberry has no notion of a field plan; graphql-jit's is the model (compile the
document, the resolvers stay the source of truth), Grafast's the model for batching a
relation per level.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import strawberry

from gql.schema.context import Context, Info
from gql.schema.loaders import cached_values, level_values

PLAN = "punchclock.plan"

Value = Callable[[Any, Context], Any]
Keys = Callable[[Sequence[Any], Context], Awaitable[list[str | None]]]


@dataclass(frozen=True)
class Column:
    """The value of the object's row attribute ``attr``, as stored."""

    attr: str


@dataclass(frozen=True)
class Computed:
    """``fn(object, context)``: computed from the object alone, no I/O. ``reads``: the
    row attributes it reads (None: any of them)."""

    fn: Value
    reads: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Related:
    """What the loader ``loader`` (an attribute of ``gql.schema.loaders.Loaders``) holds
    for the object's key: a to-one row (``many=False``) or a list of rows.

    ``key``, the row attribute holding the key or, when the key itself needs loading,
    ``keys(objects, context)`` for many objects at once; ``reads``: the row attributes
    it reads besides ``key`` (for ``keys``, None: any). The loaded value becomes
    ``then(object, context, loaded)``; when that is a leaf, ``target_reads`` are the
    loaded row's attributes it reads (None: any).
    The compiler loads the distinct keys of all parents of a level in one call, so one
    statement per relation and level (the loaders batch)."""

    loader: str
    then: Callable[[Any, Context, Any], Any]
    key: str | None = None
    keys: Keys | None = None
    reads: tuple[str, ...] | None = None
    target_reads: tuple[str, ...] | None = None

    @property
    def own_reads(self) -> tuple[str, ...] | None:
        """The parent row's attributes it reads (None: any)."""
        if self.key is None:
            return self.reads
        return (self.key, *(self.reads or ()))

    async def keys_of(self, objects: Sequence[Any], ctx: Context) -> list[str | None]:
        if self.keys is not None:
            return await self.keys(objects, ctx)
        assert self.key is not None
        key = self.key
        return [getattr(o.row, key) for o in objects]

    async def load(
        self, objects: Sequence[Any], ctx: Context, *, whole_level: bool = False
    ) -> list[Any]:
        """The field's value for each object. ``whole_level``: the objects are all of a
        level (the compiler's call), so the keys need no batching with anyone else's."""
        keys = await self.keys_of(objects, ctx)
        loader = getattr(ctx.loaders, self.loader)
        wanted = list(dict.fromkeys(k for k in keys if k is not None))
        values = cached_values(loader, wanted)
        if values is None and not wanted:
            values = []
        elif values is None:
            values = await (
                level_values(loader, wanted) if whole_level else loader.load_many(wanted)
            )
        found = dict(zip(wanted, values, strict=True))
        then = self.then
        return [
            then(o, ctx, None if k is None else found[k])
            for o, k in zip(objects, keys, strict=True)
        ]


@dataclass(frozen=True)
class Resolved:
    """The resolver itself, called once per parent (it takes arguments, or reads through
    a loader, which batches the parents' reads into one statement). ``why`` says why it
    is not one of the kinds above."""

    why: str


Plan = Column | Computed | Related | Resolved


def column(attr: str, *, description: str | None = None, name: str | None = None) -> Any:
    def resolve(root: Any) -> Any:
        return getattr(root.row, attr)

    return strawberry.field(
        resolver=resolve, description=description, name=name, metadata={PLAN: Column(attr)}
    )


def computed(
    fn: Value, *, reads: tuple[str, ...] | None = None, description: str | None = None
) -> Any:
    def resolve(root: Any, info: Info) -> Any:
        return fn(root, info.context)

    plan = Computed(fn, reads)
    return strawberry.field(resolver=resolve, description=description, metadata={PLAN: plan})


def related(
    loader: str,
    then: Callable[[Any, Context, Any], Any],
    *,
    key: str | None = None,
    keys: Keys | None = None,
    reads: tuple[str, ...] | None = None,
    target_reads: tuple[str, ...] | None = None,
    description: str | None = None,
) -> Any:
    plan = Related(loader, then, key, keys, reads, target_reads)

    async def resolve(root: Any, info: Info) -> Any:
        return (await plan.load([root], info.context))[0]

    return strawberry.field(resolver=resolve, description=description, metadata={PLAN: plan})


def resolved(why: str) -> dict[str, Resolved]:
    """The metadata of a field whose resolver is written out (``@strawberry.field(
    metadata=resolved("..."))``)."""
    return {PLAN: Resolved(why)}


def plan_of(field: Any) -> Plan | None:
    """The plan of a Strawberry field; None for a plain attribute (read as such)."""
    plan = (field.metadata or {}).get(PLAN)
    if plan is None and field.base_resolver is not None:
        raise LookupError(f"{field.python_name} has a resolver but no declaration")
    return plan


class RowObject:
    """A row type's objects hold their row (``row: strawberry.Private[Any]``, declared by
    each type) and are built from it."""

    @classmethod
    def from_row(cls, row: Any) -> Any:
        return cls(row=row)  # type: ignore[call-arg]


# The reasons of the written-out resolvers that several types share.
DOMAIN_WORK = resolved("a mutation: its domain work runs once; the compiler answers its payload")
ROOT = resolved("a root field: arguments, tenancy, and the one read it starts")
EVENT_SUBJECT = resolved("the subject of an event, read through a loader as it is now")
PAGED = resolved("a page with its own `first` and cursor")
COUNTED = resolved("the count of a connection's filter, read only when selected")


# A mutation that applies the items of one list of its input one by one (``input.<list>``):
# the rate limiter charges each item (``gql.guard.limits.ITEM_POINTS``), as it charges
# the nodes a page may return.
BATCH = "punchclock.batch"


def batch(items: str) -> dict[str, Any]:
    """The metadata of a bulk mutation whose ``input.<items>`` lists its items."""
    return {**DOMAIN_WORK, BATCH: items}
