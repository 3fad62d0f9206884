"""Pure-ASGI middleware that reads a GraphQL request before the view does."""

from gql.middleware.request import GraphQLRequestMiddleware

__all__ = ["GraphQLRequestMiddleware"]
