"""The schema, composed from the domain modules; ``schema.graphql`` is exported from it."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from gql.admission import LimitedParserCache, LimitedValidationCache, OperationGuard
from gql.errors import MaskInternalErrors
from gql.inputguard import RefuseNulCharacters
from gql.mutations import Mutation
from gql.observe import OperationObserver
from gql.queries import Query
from gql.scalars import SCALAR_MAP
from gql.subscriptions import Subscription


def build_schema(*, max_batch: int | None = None) -> strawberry.Schema:
    """The schema; ``max_batch`` turns on batching (a JSON array of operations)."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            OperationObserver,  # first in, last out: it sees the masked, coded errors
            MaskInternalErrors,
            LimitedParserCache,
            LimitedValidationCache,
            RefuseNulCharacters,  # after validation, before anything is measured or charged
            OperationGuard,  # after validation: it measures valid documents only
        ],
        config=StrawberryConfig(
            auto_camel_case=True,
            scalar_map=SCALAR_MAP,
            batching_config={"max_operations": max_batch} if max_batch else None,
        ),
    )


schema = build_schema()


def export_sdl() -> str:
    return schema.as_str() + "\n"
