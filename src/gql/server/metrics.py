"""Prometheus metrics of one process, served at ``/metrics``.

Each app has a registry of its own (tests build many apps in one process). HTTP request
metrics (starlette-exporter) and the process and Python collectors live in the process's
default registry; ``/metrics`` serves both. Operation
names come from clients, so only the first ``MAX_OPERATION_NAMES`` distinct names get a
label of their own; later ones are counted as ``(other)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import OperationType
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from store.db import Database

MAX_OPERATION_NAMES = 200
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PoolCollector(Collector):
    """Connections of the database pools, read when scraped."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "punchclock_db_pool_connections",
            "Database connections by pool and state.",
            labels=["pool", "state"],
        )
        engines = {"read": self.db.engine, "write": self.db.write_engine}
        for name, engine in engines.items():
            if name == "write" and engine is self.db.engine:
                continue  # PostgreSQL reads and writes share one pool
            for state, value in pool_states(engine.pool).items():
                family.add_metric([name, state], float(value))
        yield family


def pool_states(pool: Any) -> dict[str, int]:
    """A pool's connections by state. SQLAlchemy's ``overflow()`` counts from minus the
    pool size (it read -16 for an idle pool of 16), so overflow is computed here: the open
    connections beyond the pool's size."""
    size = int(pool.size())
    checked_out, idle = int(pool.checkedout()), int(pool.checkedin())
    return {
        "size": size,
        "open": checked_out + idle,
        "checkedout": checked_out,
        "checkedin": idle,
        "overflow": max(0, checked_out + idle - size),
    }


class Metrics:
    def __init__(self, db: Database, live_subscriptions: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Counter(
            "punchclock_operations",
            "GraphQL operations by name and type.",
            ["operation", "type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "punchclock_operation_duration_seconds",
            "Time to answer a GraphQL query or mutation, by name.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "punchclock_errors",
            "Top-level GraphQL errors by extensions.code.",
            ["code"],
            registry=self.registry,
        )
        live = Gauge(
            "punchclock_live_subscriptions",
            "Subscriptions running on this process.",
            registry=self.registry,
        )
        live.set_function(live_subscriptions)
        self.registry.register(PoolCollector(db))
        self._names: set[str] = set()
        # Labelled children by (operation label, type): labels() takes a lock and builds
        # its key on every call; the labels are bounded (MAX_OPERATION_NAMES).
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def operation(self, label: str, kind: str) -> tuple[Any, Any]:
        """The operation counter and latency histogram of one label and type."""
        found = self._children.get((label, kind))
        if found is None:
            # No latency series for subscriptions (record_operation times none).
            latency = (
                None if kind == OperationType.SUBSCRIPTION.value else self.latency.labels(label)
            )
            found = (self.operations.labels(label, kind), latency)
            self._children[(label, kind)] = found
        return found

    def label(self, operation_name: str | None) -> str:
        if not operation_name:
            return "(anonymous)"
        if operation_name in self._names:
            return operation_name
        if len(self._names) >= MAX_OPERATION_NAMES or len(operation_name) > 100:
            return "(other)"
        self._names.add(operation_name)
        return operation_name
