"""The compiled path: documents answered from their plan, without field-by-field
execution; None means "standard execution answers" (not compiled, or anything at all went
wrong: that path then answers, errors included, exactly as it always does).

A mutation's domain work runs once: when its payload cannot be answered here after the
work ran, standard execution answers with the same outcomes (``Context.replay_dones``),
without running the work again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    DirectiveNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    visit,
)
from graphql.execution.values import get_variable_values
from graphql.language import Visitor
from strawberry.types import ExecutionResult

from gql.compiler.plan import Compiler as Planner
from gql.compiler.plan import NotCompiled, Plan
from gql.compiler.run import Runner, run_root
from gql.compiler.writes import LogWriter, Unavailable
from gql.guard.admission import (
    admit,
    cost_extension,
    limits_of,
    parse_limited,
    validation_errors,
)
from gql.guard.inputguard import has_nul, nul_in_document
from gql.guard.limits import Limits, measure, shape_violations
from gql.schema.context import Context
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.loaders import Loaders
from gql.server.observe import record_operation

log = logging.getLogger("punchclock.compiler")


@dataclass
class Prepared:
    """A parsed, valid document and its operation; its plan when it does not depend on
    the variables (no ``@include``/``@skip``)."""

    document: DocumentNode
    operation: OperationDefinitionNode
    varies: bool
    log_write: bool  # the one ``logTimeEntry`` of the compiled write (``writes``)
    has_nul: bool  # a string literal with a NUL: standard execution refuses it
    plan: Plan | None = None


class _Directives(Visitor):
    found = False

    def enter_directive(self, _node: DirectiveNode, *_args: Any) -> None:
        self.found = True


class Compiler:
    def __init__(
        self, schema: strawberry.Schema, *, cache_size: int = 512, limits: Limits | None = None
    ) -> None:
        self._schema = schema
        self._graphql: GraphQLSchema = schema._schema
        self._planner = Planner(self._graphql)
        self._limits = limits or Limits()
        self._prepared: OrderedDict[tuple[str, str | None], Prepared | None] = OrderedDict()
        self._cache_size = cache_size
        self._writer = LogWriter()
        # Documents answered here (reads and mutations), and mutations among them.
        self.answered = 0
        self.writes = 0

    @property
    def log_writes(self) -> int:
        """``logTimeEntry`` mutations answered by the one-statement write."""
        return self._writer.logged

    @property
    def log_replays(self) -> int:
        """Repeated ``logTimeEntry`` keys answered from the one-statement write's read."""
        return self._writer.replayed

    def plan(self, query: str, operation_name: str | None) -> Prepared | None:
        """The cached preparation of a document (None: never compiled, also cached)."""
        key = (query, operation_name)
        if key in self._prepared:
            self._prepared.move_to_end(key)
            return self._prepared[key]
        prepared = self._prepare(query, operation_name)
        self._prepared[key] = prepared
        if len(self._prepared) > self._cache_size:
            self._prepared.popitem(last=False)
        return prepared

    def _prepare(self, query: str, operation_name: str | None) -> Prepared | None:
        # Within the limits its shape can break (tokens, fields, depth, aliases,
        # variables): a document over them must reach standard execution's refusal.
        try:
            document = parse_limited(query, self._limits.max_tokens)
        except GraphQLError:
            return None
        found = measure(self._graphql, document, None, None)
        if shape_violations(found, self._limits):
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation == OperationType.SUBSCRIPTION:
            return None
        directives = _Directives()
        visit(document, directives)
        roots = operation.selection_set.selections
        log_write = (
            operation.operation == OperationType.MUTATION
            and not directives.found
            and len(roots) == 1
            and getattr(roots[0], "name", None) is not None
            and roots[0].name.value == LogWriter.MUTATION  # type: ignore[attr-defined]
        )
        has_nul = nul_in_document(document) is not None
        return Prepared(document, operation, directives.found, log_write, has_nul)

    async def execute(
        self,
        context: Context,
        query: str | None,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        *,
        writes: bool = False,
    ) -> ExecutionResult | None:
        """The answer, or None for standard execution. ``writes``: the request may run
        a mutation (POST; a mutation over GET is standard execution's 405). A document
        needs an authenticated context; the compiled ``logTimeEntry`` only the token
        (``context.token``), which it checks itself."""
        if not query:
            return None
        prepared = self.plan(query, operation_name)
        if prepared is None or has_nul(query) or has_nul(variables):
            return None
        mutation = prepared.operation.operation == OperationType.MUTATION
        if mutation and not writes:
            return None
        bare = context.viewer is None
        if bare and not (prepared.log_write and context.token is not None):
            return None
        started = time.perf_counter()
        # The same admission as standard execution (limits, rate limit, cost). A refusal
        # charges nothing, and standard execution answers it with the same error.
        if prepared.has_nul:  # written as \u0000: refused as standard
            return None
        document = prepared.document  # parsed within the same token limit, once
        if limits_of(context).max_tokens != self._limits.max_tokens:
            try:
                document = parse_limited(query, limits_of(context).max_tokens)
            except GraphQLError:
                return None
        if validation_errors(context, self._graphql, document):
            return None
        found, verdict, refusals = admit(
            context, self._graphql, document, operation_name, variables
        )
        if refusals or found is None:
            return None
        errors: list[GraphQLError] | None = None
        if mutation:
            context.dones = []
        try:
            data = await self._run(prepared, context, variables or {}, bare=bare)
        except Unavailable as exc:
            log.warning("database lost while logging an entry: %r", exc.__cause__)
            data = None
            errors = [
                CodedError(TopLevelCode.UNAVAILABLE, "The database is unavailable; retry later.")
            ]
        except Exception as exc:  # whatever it is, standard execution will report it
            context.rate_prepaid = verdict  # charged: standard execution does not again
            # Pages read only the columns the plan needed: standard execution reads anew.
            context.loaders = Loaders(context.db)
            if context.dones:
                context.replay_dones = list(context.dones)  # done once, answered there
            context.dones = None
            log.debug("compiled path declined: %r", exc, exc_info=not isinstance(exc, NotCompiled))
            return None
        context.dones = None
        self.answered += 1
        if mutation:
            self.writes += 1
        context.cost = found.cost
        result = ExecutionResult(
            data=data, errors=errors, extensions={"cost": cost_extension(found, verdict, context)}
        )
        operation = prepared.operation
        name = operation.name.value if operation.name is not None else None
        record_operation(
            context, name, operation.operation.value, time.perf_counter() - started, errors
        )
        return result

    async def _run(
        self, prepared: Prepared, ctx: Context, variables: dict[str, Any], *, bare: bool
    ) -> dict[str, Any]:
        operation = prepared.operation
        coerced = get_variable_values(
            self._graphql, operation.variable_definitions or (), variables
        )
        if isinstance(coerced, list):  # invalid variables: standard execution's error
            raise NotCompiled("invalid variables")
        plan = prepared.plan
        if plan is None:
            plan = self._planner.plan(prepared.document, operation, coerced)
            if not prepared.varies:
                prepared.plan = plan
        runner = Runner(self._graphql, self._schema, ctx, coerced)
        if prepared.log_write and bare:
            step = plan.root.steps[0]
            return await self._writer.run(runner, step)
        if bare:
            raise NotCompiled("a mutation that needs the viewer")
        return await run_root(runner, plan.root, serial=plan.mutation)
