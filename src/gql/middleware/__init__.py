"""Pure-ASGI middleware that rewrites a GraphQL request before the view reads it."""

from gql.middleware.idempotency import IdempotencyKeyMiddleware
from gql.middleware.persisted import PersistedQueryMiddleware

__all__ = ["IdempotencyKeyMiddleware", "PersistedQueryMiddleware"]
