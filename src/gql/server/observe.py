"""Per-operation observation: metrics (count, latency, errors by code) and the slow log."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from graphql import OperationType
from strawberry.extensions import SchemaExtension

from gql.guard.limits import select_operation

log = logging.getLogger("punchclock.slow")


def _operation(execution_context: Any) -> tuple[str | None, str]:
    """The operation's name and type, when the document says."""
    document = execution_context.graphql_document
    if document is None:
        return execution_context.operation_name, "unknown"
    operation = select_operation(document, execution_context.operation_name)
    if operation is None:
        return execution_context.operation_name, "unknown"
    name = operation.name.value if operation.name is not None else None
    return name, operation.operation.value


def record_operation(
    context: Any, name: str | None, kind: str, seconds: float, errors: Any
) -> None:
    """Count the operation and its errors, time it, and log it when slow."""
    services: Any = getattr(context, "services", None)
    metrics = getattr(services, "metrics", None)
    if metrics is None:
        return
    count, latency = metrics.operation(metrics.label(name), kind)
    count.inc()
    for error in errors or ():
        code = (error.extensions or {}).get("code") or "UNKNOWN"
        metrics.errors.labels(str(code)).inc()
    if kind == OperationType.SUBSCRIPTION.value:
        return  # lives as long as the client listens: no latency to speak of
    latency.observe(seconds)
    threshold = services.settings.slow_operation_ms
    if threshold and seconds * 1000 >= threshold:
        log.warning(
            "slow operation %s took %d ms",
            name or "(anonymous)",
            seconds * 1000,
            extra={
                "operation": name,
                "operation_type": kind,
                "duration_ms": round(seconds * 1000, 1),
                "cost": getattr(context, "cost", None),
            },
        )


class OperationObserver(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        execution_context = self.execution_context
        name, kind = _operation(execution_context)
        record_operation(
            execution_context.context,
            name,
            kind,
            time.perf_counter() - started,
            getattr(execution_context.result, "errors", None),
        )
