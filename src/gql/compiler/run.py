"""Running a plan level by level: each field once for all the objects of its level.

A column is an attribute read per object, a computed field its function per object, a
relation one loader call for the distinct keys of the level (one statement), a resolver
its own function per parent, all at once (its loaders batch them). Values are serialized
by the schema's scalars and enums as standard execution serializes them. Anything that
standard execution would answer with an error (a null in a non-null field, a resolver's
error, an Int over 32 bits) raises, and the document is answered by standard execution.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLSchema
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.types.arguments import convert_arguments

from gql.compiler.plan import (
    ATTR,
    COLUMN,
    COMPUTED,
    RELATED,
    RESOLVED,
    TYPENAME,
    Abstract,
    Leaf,
    ListOf,
    NotCompiled,
    Obj,
    Step,
)
from gql.schema.context import Context


@dataclass(frozen=True)
class CompiledInfo:
    """What resolvers read of ``Info`` (``info.context``): all of them, nothing else."""

    context: Context


class Runner:
    def __init__(
        self, schema: GraphQLSchema, strawberry_schema: Any, ctx: Context, variables: VariableValues
    ) -> None:
        self.schema = schema
        self.strawberry = strawberry_schema
        self.ctx = ctx
        self.info = CompiledInfo(ctx)
        self.variables = variables

    async def objects(self, objs: Sequence[Any], obj: Obj) -> list[dict[str, Any]]:
        if not objs:
            return []
        ctx = self.ctx
        built = _builder(obj)
        # Every key in order; the values of steps that read in batches are filled in
        # (assigning an existing key keeps its place).
        out: list[dict[str, Any]] = built.build(objs, ctx)
        for step in built.batched:
            key = step.key
            if step.kind == RELATED:
                raw = await step.fn.load(objs, ctx, whole_level=True)
            elif step.kind == RESOLVED:
                raw = await self.resolve(step, objs)
            elif step.kind == COMPUTED:
                fn = step.fn
                raw = [fn(o, ctx) for o in objs]
            elif step.kind == COLUMN:
                attr = step.name
                raw = [getattr(o.row, attr) for o in objs]
            else:
                assert step.kind == ATTR
                name = step.name
                raw = [getattr(o, name) for o in objs]
            for d, v in zip(out, await self.complete(raw, step.completion), strict=True):
                d[key] = v
        return out

    async def complete(self, values: list[Any], completion: Any) -> list[Any]:
        if type(completion) is Leaf:
            serialize = completion.serialize
            out = [None if v is None else serialize(v) for v in values]
        elif type(completion) is ListOf:
            items = [x for v in values if v is not None for x in v]
            done = iter(await self.complete(items, completion.item))
            out = [None if v is None else [next(done) for _ in v] for v in values]
        elif type(completion) is Obj:
            present = [v for v in values if v is not None]
            built = iter(await self.objects(present, completion))
            out = [None if v is None else next(built) for v in values]
        else:
            assert type(completion) is Abstract
            out = await self.abstract(values, completion)
        if not completion.nullable and any(v is None for v in out):
            raise NotCompiled("null in a non-null field")
        return out

    async def abstract(self, values: list[Any], completion: Abstract) -> list[Any]:
        """Objects of an interface's field, each as its own type (the Strawberry type
        of its class, as Strawberry resolves it), a type's objects at once. Types run one
        after another: a level's steps never run concurrently (``Context.prefetch``)."""
        positions: dict[str, list[int]] = {}
        for i, v in enumerate(values):
            if v is not None:
                positions.setdefault(_type_name(v.__class__), []).append(i)
        out: list[Any] = [None] * len(values)
        for name, where in positions.items():
            obj = completion.by_type.get(name)
            if obj is None:
                raise NotCompiled("an object of a type the field does not return")
            built = await self.objects([values[i] for i in where], obj)
            for i, d in zip(where, built, strict=True):
                out[i] = d
        return out

    def kwargs(self, step: Step) -> dict[str, Any]:
        assert step.field is not None and step.details is not None
        detail = step.details[0]
        raw = get_argument_values(
            step.field, detail.node, self.variables, detail.fragment_variable_values
        )
        kwargs: dict[str, Any] = convert_arguments(
            raw,
            step.arguments,
            scalar_registry=self.strawberry.schema_converter.scalar_registry,
            config=self.strawberry.config,
        )
        if step.takes_info is not None:
            kwargs[step.takes_info] = self.info
        return kwargs

    async def resolve(self, step: Step, objs: Sequence[Any]) -> list[Any]:
        kwargs = self.kwargs(step)
        fn = step.fn
        own = step.takes_self
        self.ctx.prefetch = step.prefetch
        try:
            if own is None:
                results = [fn(**kwargs) for _ in objs]
            else:
                results = [fn(**{own: o}, **kwargs) for o in objs]
            if results and inspect.isawaitable(results[0]):
                return list(await asyncio.gather(*results))
            return results
        finally:
            self.ctx.prefetch = None


async def run_root(runner: Runner, root: Obj, *, serial: bool) -> dict[str, Any]:
    """The data of an operation. Mutations run their root fields one after another, as
    standard execution does; a query's run as one level."""
    if not serial:
        return (await runner.objects([None], root))[0]
    if root.parts is None:
        root.parts = [Obj(root.type_name, False, [step]) for step in root.steps]
    data: dict[str, Any] = {}
    for part in root.parts:
        data.update((await runner.objects([None], part))[0])
    return data


@functools.cache
def _type_name(cls: Any) -> str:
    definition = getattr(cls, "__strawberry_definition__", None)
    if definition is None:
        raise NotCompiled("not an object of a Strawberry type")
    return str(definition.name)


@dataclass(frozen=True)
class _Built:
    build: Any  # (objects, context) -> [dict]: the per-object fields, placeholders for the rest
    batched: list[Step]


def _null() -> Any:
    raise NotCompiled("null in a non-null field")


def _builder(obj: Obj) -> _Built:
    """One comprehension per object type of a plan, compiled once: a dict display per
    object with its columns, computed fields and ``__typename`` in place (a call per
    object instead of one per field), and a placeholder for each field that reads in
    batches. Only names of our own making and ``repr``'d keys reach the source."""
    if obj.built is not None:
        return obj.built  # type: ignore[no-any-return]
    # A module's globals (name, builtins): a warning raised while this code runs (the
    # collector freeing something meanwhile) looks its frame's module up there.
    namespace: dict[str, Any] = {"__name__": __name__, "__builtins__": builtins, "_null": _null}
    items: list[str] = []
    batched: list[Step] = []
    for i, step in enumerate(obj.steps):
        leaf = step.completion if type(step.completion) is Leaf else None
        if step.kind == TYPENAME:
            expression = repr(step.name)
        elif leaf is not None and step.kind in (COLUMN, COMPUTED, ATTR):
            if step.kind == COLUMN:
                value = f"o.row.{step.name}"
            elif step.kind == ATTR:
                value = f"o.{step.name}"
            else:
                namespace[f"_f{i}"] = step.fn
                value = f"_f{i}(o, ctx)"
            namespace[f"_s{i}"] = leaf.serialize
            missing = "None" if leaf.nullable else "_null()"
            expression = f"(_s{i}(v) if (v := {value}) is not None else {missing})"
        else:
            batched.append(step)
            expression = "None"
        if not step.key.isidentifier() or (step.kind != TYPENAME and not step.name.isidentifier()):
            raise NotCompiled("a name that is no identifier")
        items.append(f"{step.key!r}: {expression}")
    source = f"lambda objs, ctx: [{{{', '.join(items)}}} for o in objs]"
    built = _Built(eval(source, namespace), batched)  # our names and repr'd keys only
    obj.built = built
    return built
