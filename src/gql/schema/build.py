"""The schema, composed from the domain modules; ``schema.graphql`` is exported from it."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql.guard.admission import (
    DocumentLimits,
    LimitedParserCache,
    LimitedValidationCache,
    OperationGuard,
)
from gql.guard.inputguard import RefuseNulCharacters
from gql.schema.errors import MaskInternalErrors
from gql.schema.mutations import Mutation
from gql.schema.queries import Query
from gql.schema.scalars import SCALAR_MAP
from gql.schema.subscriptions import Subscription
from gql.server.observe import OperationObserver

log = logging.getLogger("punchclock.operations")


class PunchclockSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], _: ExecutionContext | None = None) -> None:
        """Strawberry logs every error at ERROR with a traceback, a client's typo too.
        What the client caused (syntax, validation, variables, coded refusals) gets a
        debug line; an unexpected failure is logged once, where MaskInternalErrors masks
        it (with the request id), not here as well."""
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, GraphQLError):
                log.debug("refused: %s", error.message)


def build_schema(*, max_batch: int | None = None) -> strawberry.Schema:
    """The schema; ``max_batch`` turns on batching (a JSON array of operations)."""
    return PunchclockSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            OperationObserver,  # first in, last out: it sees the masked, coded errors
            MaskInternalErrors,
            LimitedParserCache,
            DocumentLimits,  # before validation: a refused document is never validated
            LimitedValidationCache,
            RefuseNulCharacters,  # after validation, before anything is measured or charged
            OperationGuard,  # after validation: it charges valid operations only
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
