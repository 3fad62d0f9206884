"""Admission of an operation before it runs: parse, validate, limit, rate-limit.

These are schema extensions, so every transport (POST, GET, WebSocket subscriptions)
goes through them. The shared subscription path of :mod:`gql.live.fanout`, which starts no
Strawberry execution per subscriber, calls :func:`admit` itself.

- :class:`LimitedParserCache` parses (cached) within the token limit.
- :class:`DocumentLimits` measures the parsed document (:mod:`gql.guard.limits`, linear in its
  size) and refuses it with ``QUERY_TOO_COMPLEX`` *before* validation, whose cost grows
  faster than the document (graphql-core compares fields of one response name pairwise).
- :class:`LimitedValidationCache` validates (cached) within a CPU budget
  (``validation_budget_ms``: past it, ``QUERY_TOO_COMPLEX``), and leaves "Did you mean …"
  suggestions out for requests without a viewer, so the schema is not spelled out to
  anyone who has not signed in (introspection, which does that on purpose, still works).
- :class:`OperationGuard` refuses a mutation asked with a READ token (``FORBIDDEN``),
  charges the valid operation's cost to the client's bucket (``RATE_LIMITED``) and
  reports ``extensions.cost``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    ValidationContext,
    parse,
    specified_rules,
    validate,
)
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from gql.guard.limits import (
    DocumentKey,
    Limits,
    Measure,
    measure,
    select_operation,
    shape_violations,
    violations,
)
from gql.guard.ratelimit import RateLimiter, Verdict
from gql.schema.errors import CodedError, TopLevelCode
from store import tokens

CACHE_SIZE = 512


# Documents longer than this are parsed and measured one at a time (see ParseGate).
HEAVY_DOCUMENT_CHARS = 2000


def parse_limited(query: str, max_tokens: int) -> DocumentNode:
    """The parsed document (cached), or the parser's error, raised again from the cache:
    a refused document costs one parse however many steps of a request ask for it."""
    parsed = _parse_cached(query, max_tokens)
    if isinstance(parsed, GraphQLError):
        raise parsed
    return parsed


@lru_cache(maxsize=CACHE_SIZE)
def _parse_cached(query: str, max_tokens: int) -> DocumentNode | GraphQLError:
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLError as error:
        return error


class ParseGate:
    """The first look at a request's document, before authentication or execution: a
    document over the token limit or the limits of its shape (fields, depth, aliases,
    variables: what no variable changes) is refused at once, with QUERY_TOO_COMPLEX.

    Long documents are parsed and measured one at a time per process. Parsing is the
    one step of a refusal whose cost grows with the document (graphql-core lexes some
    5 µs a token: 10 ms at the 2,000-token limit), and it runs on the event loop: eight
    clients sending such documents at once would queue 80 ms of parsing ahead of every
    cheap request. Through the gate at most one of them holds the loop at a time. What
    it parsed and measured is cached, so the later steps (the compiled path's check,
    Strawberry's extensions) find it done."""

    def __init__(self, schema: GraphQLSchema, limits: Limits) -> None:
        self.schema, self.limits = schema, limits
        self._lock = asyncio.Lock()

    async def check(self, query: object) -> CodedError | None:
        if not isinstance(query, str):
            return None
        if len(query) <= HEAVY_DOCUMENT_CHARS:
            return self._check(query)
        async with self._lock:
            # In a thread: the loop keeps serving between the interpreter's switches
            # (every 5 ms) instead of waiting for the whole parse.
            return await asyncio.to_thread(self._check, query)

    def _check(self, query: str) -> CodedError | None:
        message = _shape_refusal(self.schema, query, self.limits)
        return None if message is None else CodedError(TopLevelCode.QUERY_TOO_COMPLEX, message)


@lru_cache(maxsize=CACHE_SIZE)
def _shape_refusal(schema: GraphQLSchema, query: str, limits: Limits) -> str | None:
    """Why the parse gate refuses ``query``, or None (cached: a repeated document, nearly
    every request, costs one look-up)."""
    try:
        document = parse_limited(query, limits.max_tokens)
    except GraphQLError as error:
        if error.message.endswith("tokens. Parsing aborted."):
            return error.message
        return None  # a syntax error: Strawberry's parse reports it as always
    problems = shape_violations(measure(schema, document, None, None), limits)
    return " ".join(problems) if problems else None


def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return _validate_cached(schema, DocumentKey(document), rules, hide_suggestions)


class _GarbageCollections:
    """CPU time the collector has spent in this process, so that a budget can leave it
    out: a full collection (50 ms and more with a large heap) runs inside whatever
    happens to allocate, and must not make a small document look expensive."""

    seconds = 0.0
    _started = 0.0

    @classmethod
    def track(cls, phase: str, _: dict[str, Any]) -> None:
        if phase == "start":
            cls._started = time.thread_time()
        else:
            cls.seconds += time.thread_time() - cls._started


gc.callbacks.append(_GarbageCollections.track)


def _cpu_seconds() -> float:
    """This thread's CPU time, without the garbage collector's."""
    return time.thread_time() - _GarbageCollections.seconds


@lru_cache(maxsize=8)
def budget_rule(milliseconds: float) -> type[ASTValidationRule]:
    """A validation rule that aborts validation once it has used ``milliseconds`` of the
    thread's CPU time (garbage collections left out). The limits of
    :class:`DocumentLimits` keep every document we know of far below it
    (bench/hostile_bench.py); this is the bound for the ones we do not."""
    seconds = milliseconds / 1000

    class ValidationBudget(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.deadline = _cpu_seconds() + seconds

        def enter(self, *_: object) -> None:
            if _cpu_seconds() > self.deadline:
                raise ValidationAbortedError(
                    f"Validating the document took more than {milliseconds:g} ms of CPU: "
                    "send a smaller document.",
                    extensions={"code": TopLevelCode.QUERY_TOO_COMPLEX.value},
                )

    return ValidationBudget


@lru_cache(maxsize=CACHE_SIZE)
def _validate_cached(
    schema: GraphQLSchema,
    key: DocumentKey,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return validate(
        schema,
        key.document,
        (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
        hide_suggestions=hide_suggestions,
    )


def _services(context: Any) -> Any:
    return getattr(context, "services", None)


def limits_of(context: Any) -> Limits:
    services = _services(context)
    return services.limits if services is not None else Limits()


class LimitedParserCache(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        execution_context = self.execution_context
        max_tokens = limits_of(execution_context.context).max_tokens
        # Strawberry's own parse (which runs when no document is set here) gets the same
        # limit, so a refused document fails there, inside its error handling: raising
        # from this hook would skip the error masking.
        execution_context.parse_options["max_tokens"] = max_tokens
        query = execution_context.query
        if query and execution_context.graphql_document is None:
            try:
                execution_context.graphql_document = parse_limited(query, max_tokens)
            except GraphQLError:
                pass
        yield


class DocumentLimits(SchemaExtension):
    """Goes before :class:`LimitedValidationCache` in the schema's extensions: its hook
    runs first, so a refused document is never validated."""

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        document = execution_context.graphql_document
        if document is not None and execution_context.pre_execution_errors is None:
            _, refused = refusal(
                execution_context.context,
                execution_context.schema._schema,
                document,
                execution_context.operation_name,
                execution_context.variables,
            )
            if refused is not None:
                execution_context.pre_execution_errors = [refused]
        yield


def validation_errors(
    context: Any,
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...] = tuple(specified_rules),
) -> list[GraphQLError]:
    """The document's validation errors (cached), within the context's CPU budget."""
    hide = getattr(context, "viewer", None) is None
    budget = limits_of(context).validation_budget_ms
    return _validate(schema, document, (*rules, budget_rule(budget)), hide)


class LimitedValidationCache(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        assert execution_context.graphql_document is not None
        if execution_context.pre_execution_errors is None:  # else DocumentLimits refused it
            execution_context.pre_execution_errors = validation_errors(
                execution_context.context,
                execution_context.schema._schema,
                execution_context.graphql_document,
                tuple(execution_context.validation_rules),
            )
        yield


def client_key(context: Any) -> str:
    """Whose limit pays: the token's public prefix, else the client's address."""
    token = getattr(context, "token", None)
    if isinstance(token, str) and token.startswith("pc_") and len(token) > 16:
        return "token:" + token[:16]
    return address_key(getattr(context, "request", None))


def address_key(request: Any) -> str:
    """The limit of requests without a valid token: the client's address."""
    client = getattr(request, "client", None)
    return "addr:" + (client.host if client is not None else "unknown")


def refusal(
    context: Any,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> tuple[Measure, CodedError | None]:
    """Measure the document and check it against the limits (no charge). A connection
    given both ``first`` and ``last`` is refused here too, with ``VALIDATION``: only
    the document tells a ``first`` sent from its default of 50."""
    found = measure(schema, document, operation_name, variables)
    if found.both_ends:
        return found, CodedError(
            TopLevelCode.VALIDATION,
            "A connection takes `first` (with `after`) or `last` (with `before`), not both.",
        )
    problems = violations(found, limits_of(context))
    if problems:
        return found, CodedError(TopLevelCode.QUERY_TOO_COMPLEX, " ".join(problems))
    return found, None


def refuse_anonymous(services: Any, request: Any) -> GraphQLError | None:
    """Charge a request that has no valid token one point of its address's limit;
    the RATE_LIMITED error once that limit is spent (else None)."""
    limiter: RateLimiter | None = getattr(services, "rate_limiter", None)
    if limiter is None:
        return None
    verdict = limiter.charge(address_key(request), 1)
    return None if verdict.allowed else rate_limited(1, verdict)


def rate_limited(cost: int, verdict: Verdict) -> GraphQLError:
    error = CodedError(
        TopLevelCode.RATE_LIMITED,
        f"Rate limit exceeded: this operation costs {cost} points and "
        f"{verdict.remaining} are available; retry in {verdict.retry_after} s.",
    )
    error.extensions = {**(error.extensions or {}), "retryAfter": verdict.retry_after}
    return error


def admit(
    context: Any,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> tuple[Measure | None, Verdict | None, list[GraphQLError]]:
    """Measure the operation, check the limits, charge the client's bucket; no measure
    when the document names no runnable operation (nothing to charge)."""
    found, refused = refusal(context, schema, document, operation_name, variables)
    if refused is not None:
        return found, None, [refused]
    if not found.runnable:
        return None, None, []
    # Refused before the charge, as the limits are: a refusal charges nothing.
    read_only = read_only_refusal(context, document, operation_name)
    if read_only is not None:
        return found, None, [read_only]
    services = _services(context)
    limiter: RateLimiter | None = getattr(services, "rate_limiter", None)
    if limiter is None:
        return found, None, []
    prepaid: Verdict | None = getattr(context, "rate_prepaid", None)
    if prepaid is not None:
        # The compiled path charged this operation, then handed it here: not twice.
        context.rate_prepaid = None
        verdict = prepaid
    else:
        verdict = limiter.charge(client_key(context), found.cost)
    if verdict.allowed:
        return found, verdict, []
    return found, verdict, [rate_limited(found.cost, verdict)]


READ_ONLY_TOKEN = (
    "This token has the READ scope: it may run queries and subscriptions, not mutations. "
    "Use a WRITE token."
)


def read_only_refusal(
    context: Any, document: DocumentNode, operation_name: str | None
) -> CodedError | None:
    """FORBIDDEN for a mutation asked with a READ token (``store.tokens.may_write``),
    before anything executes. Here, in the one admission every execution passes (standard
    execution on every transport through :class:`OperationGuard`, the compiled paths
    through ``gql.compiler``), so no mutation, today's or a new one, escapes it. The
    compiled ``logTimeEntry``, which authenticates in its own statement, checks the
    scope there and hands a READ token back (``store.entry_writes``)."""
    bearer = getattr(context, "bearer", None)
    if bearer is None or tokens.may_write(bearer.scope):
        return None
    operation = select_operation(document, operation_name)
    if operation is None or operation.operation != OperationType.MUTATION:
        return None
    return CodedError(TopLevelCode.FORBIDDEN, READ_ONLY_TOKEN)


def cost_extension(found: Measure, verdict: Verdict | None, context: Any) -> dict[str, Any]:
    cost: dict[str, Any] = {
        "requestedQueryCost": found.cost,
        "nodes": found.nodes,
        "maximumNodes": limits_of(context).max_nodes,
    }
    limiter: RateLimiter | None = getattr(_services(context), "rate_limiter", None)
    if limiter is not None and verdict is not None:
        cost["throttleStatus"] = {
            "maximumAvailable": limiter.capacity,
            "currentlyAvailable": verdict.remaining,
            "restoreRate": limiter.rate,
        }
    return cost


class OperationGuard(SchemaExtension):
    """Runs after validation (it comes after :class:`LimitedValidationCache` in the
    schema's extensions, whose hook has set the validation errors by then): it charges
    valid operations only. The limits were checked by :class:`DocumentLimits`; the
    measure is cached."""

    found: Measure | None = None
    verdict: Verdict | None = None

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        document = execution_context.graphql_document
        if document is not None and not execution_context.pre_execution_errors:
            self.found, self.verdict, errors = admit(
                execution_context.context,
                execution_context.schema._schema,
                document,
                execution_context.operation_name,
                execution_context.variables,
            )
            if errors:
                execution_context.pre_execution_errors = errors
            if self.found is not None and hasattr(execution_context.context, "cost"):
                execution_context.context.cost = self.found.cost
        yield

    def get_results(self) -> dict[str, Any]:
        if self.found is None:
            return {}
        return {"cost": cost_extension(self.found, self.verdict, self.execution_context.context)}
