"""Admission of an operation before it runs: parse, validate, limit, rate-limit.

These are schema extensions, so every transport (POST, GET, WebSocket subscriptions)
goes through them. The shared subscription path of :mod:`gql.fanout`, which starts no
Strawberry execution per subscriber, calls :func:`admit` itself.

- :class:`LimitedParserCache` parses (cached) within the token limit.
- :class:`LimitedValidationCache` validates (cached) and leaves "Did you mean …"
  suggestions out for requests without a viewer, so the schema is not spelled out to
  anyone who has not signed in (introspection, which does that on purpose, still works).
- :class:`OperationGuard` measures the valid document (:mod:`gql.limits`), refuses it
  with ``QUERY_TOO_COMPLEX`` or ``RATE_LIMITED``, and reports ``extensions.cost``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from gql.errors import CodedError, TopLevelCode
from gql.limits import DocumentKey, Limits, Measure, measure, violations
from gql.ratelimit import RateLimiter, Verdict

CACHE_SIZE = 512


@lru_cache(maxsize=CACHE_SIZE)
def parse_limited(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> list[GraphQLError]:
    return _validate_cached(schema, DocumentKey(document), rules, hide_suggestions)


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


class LimitedValidationCache(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        assert execution_context.graphql_document is not None
        hide = getattr(execution_context.context, "viewer", None) is None
        execution_context.pre_execution_errors = _validate(
            execution_context.schema._schema,
            execution_context.graphql_document,
            tuple(execution_context.validation_rules),
            hide,
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
    """Measure the (valid) operation, check the limits, charge the client's bucket."""
    found = measure(schema, document, operation_name, variables)
    if found is None:
        return None, None, []
    problems = violations(found, limits_of(context))
    if problems:
        return found, None, [CodedError(TopLevelCode.QUERY_TOO_COMPLEX, " ".join(problems))]
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
    schema's extensions, whose hook has set the validation errors by then)."""

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
