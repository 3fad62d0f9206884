"""Running a plan: coerce the variables, fetch each page in one statement, build the data."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSchema
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.types import ExecutionResult
from strawberry.types.arguments import convert_arguments

from gql.compiler.compile import Page, Plan, RootField, WritePlan, compile_plan
from gql.compiler.fields import Fallback
from gql.compiler.writes import LogWriter, Unavailable
from gql.guard.admission import admit, cost_extension, limits_of, parse_limited
from gql.guard.inputguard import has_nul, nul_in_document
from gql.guard.limits import Limits, measure, shape_violations
from gql.schema.context import Context
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.types.entry import TimeEntryFilter, store_filter
from gql.schema.types.pagination import check_first, decode_entry_cursor
from gql.server.observe import record_operation
from store import entries
from store.entry_pages import entry_page_rows, first_team_page, is_first_team_page

log = logging.getLogger("punchclock.fastpath")


class FastPath:
    """Answers plannable documents without field-by-field execution; None means "use the
    standard path" (not plannable, or anything at all went wrong: that path then answers,
    errors included, exactly as it always does)."""

    def __init__(
        self, schema: strawberry.Schema, *, cache_size: int = 512, limits: Limits | None = None
    ) -> None:
        self._graphql: GraphQLSchema = schema._schema
        self._limits = limits or Limits()
        self._schema = schema
        self._plans: OrderedDict[tuple[str, str | None], Plan | WritePlan | None] = OrderedDict()
        self._cache_size = cache_size
        query_type = self._graphql.query_type
        assert query_type is not None
        self._field = query_type.fields["timeEntries"]
        found = schema.get_field_for_type("timeEntries", "Query")
        assert found is not None
        self._arguments = found.arguments
        # Mutations the compiled path answered (the rest took the standard path).
        self.writes = 0
        self._writer = LogWriter.of(self._graphql, schema.config.name_converter.get_graphql_name)

    def plan(self, query: str, operation_name: str | None) -> Plan | WritePlan | None:
        """The cached plan of a document (None: not plannable, also cached)."""
        key = (query, operation_name)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = compile_plan(self._graphql, query, operation_name) if self._may_plan(query) else None
        self._plans[key] = plan
        if len(self._plans) > self._cache_size:
            self._plans.popitem(last=False)
        return plan

    def _may_plan(self, query: str) -> bool:
        """Whether the document is within the limits its shape can break (tokens, fields,
        depth, aliases, variables): compiling validates it, and a document over them
        must reach the standard path's refusal before any validation."""
        try:
            document = parse_limited(query, self._limits.max_tokens)
        except GraphQLError:
            return False
        found = measure(self._graphql, document, None, None)
        return not shape_violations(found, self._limits)

    async def execute(
        self,
        context: Context,
        query: str | None,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        *,
        writes: bool = False,
    ) -> ExecutionResult | None:
        """The answer, or None for the standard path. ``writes``: the request may run a
        mutation (POST; a mutation over GET is the standard path's 405). A query needs an
        authenticated context; a write only the token (``context.token``), which it checks
        itself."""
        if not query:
            return None
        plan = self.plan(query, operation_name)
        if plan is None or has_nul(query) or has_nul(variables):
            return None
        if isinstance(plan, WritePlan):
            # A write checks its token itself, in the statement that reads its facts.
            if not writes or context.token is None:
                return None
        elif context.viewer is None:
            return None
        started = time.perf_counter()
        # The same admission as standard execution (limits, rate limit, cost). A refusal
        # charges nothing, and standard execution answers it with the same error.
        try:
            document = parse_limited(query, limits_of(context).max_tokens)
        except GraphQLError:
            return None
        if nul_in_document(document) is not None:  # written as \u0000: refused as standard
            return None
        found, verdict, refusals = admit(
            context, self._graphql, document, operation_name, variables
        )
        if refusals or found is None:
            return None
        errors: list[GraphQLError] | None = None
        try:
            if isinstance(plan, WritePlan):
                data = await self._writer.run(plan, context, variables or {})
                self.writes += 1
            else:
                data = await self._run(plan, context, variables or {})
        except Unavailable as exc:
            log.warning("database lost while logging an entry: %r", exc.__cause__)
            data = None
            errors = [
                CodedError(TopLevelCode.UNAVAILABLE, "The database is unavailable; retry later.")
            ]
        except Exception as exc:  # whatever it is, the standard path will report it
            context.rate_prepaid = verdict  # charged: the standard path does not again
            log.debug("fast path fell back: %r", exc, exc_info=True)
            return None
        context.cost = found.cost
        result = ExecutionResult(
            data=data, errors=errors, extensions={"cost": cost_extension(found, verdict, context)}
        )
        name = plan.operation.name.value if plan.operation.name is not None else None
        kind = plan.operation.operation.value
        record_operation(context, name, kind, time.perf_counter() - started, errors)
        return result

    async def _run(self, plan: Plan, ctx: Context, variables: dict[str, Any]) -> dict[str, Any]:
        coerced = get_variable_values(
            self._graphql, plan.operation.variable_definitions or (), variables
        )
        if isinstance(coerced, list):  # invalid variables: the standard path's error
            raise Fallback
        data: dict[str, Any] = {}
        for key, root in plan.roots:
            if isinstance(root, str):
                data[key] = root
            else:
                data[key] = await self._connection(plan, root, ctx, coerced)
        return data

    async def _connection(
        self, plan: Plan, root: RootField, ctx: Context, variables: VariableValues
    ) -> dict[str, Any]:
        raw = get_argument_values(self._field, root.node, variables)
        if all(value is None for key, value in raw["filter"].items() if key != "teamId"):
            # The usual filter; Strawberry's generic conversion costs more than the page.
            kwargs = {**raw, "filter": TimeEntryFilter(team_id=raw["filter"]["teamId"])}
        else:
            kwargs = convert_arguments(
                raw,
                self._arguments,
                scalar_registry=self._schema.schema_converter.scalar_registry,
                config=self._schema.config,
            )
        # What Query.time_entries and entry_connection do, in the same order.
        f = kwargs["filter"]
        team_id = str(f.team_id)
        ef = await store_filter(ctx, f, team_ids=[team_id] if ctx.is_member(team_id) else [])
        size = check_first(kwargs.get("first"))
        after = kwargs.get("after")
        cursor = decode_entry_cursor(after) if after is not None else None
        if ef is None:
            return root.build(Page([], False, False, 0, ctx.now))
        total = None
        if is_first_team_page(ef, cursor):
            rows, has_next = await first_team_page(
                ctx.db, team_id=ef.team_ids[0], first=size, columns=plan.columns
            )
        else:
            async with ctx.db.read_statement() as session:
                rows, has_next = await entry_page_rows(
                    session, filter=ef, first=size, after=cursor, columns=plan.columns
                )
        if root.needs_total:
            async with ctx.db.read_statement() as session:
                total = await entries.count_entries(session, filter=ef)
        return root.build(Page(rows, has_next, after is not None, total, ctx.now))
