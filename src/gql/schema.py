"""The schema, composed from the domain modules; ``schema.graphql`` is exported from it."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from gql.errors import MaskInternalErrors
from gql.inputguard import RefuseNulCharacters
from gql.mutations import Mutation
from gql.queries import Query
from gql.scalars import SCALAR_MAP
from gql.subscriptions import Subscription


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            MaskInternalErrors,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            RefuseNulCharacters,
        ],
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_MAP),
    )


schema = build_schema()


def export_sdl() -> str:
    return schema.as_str() + "\n"
