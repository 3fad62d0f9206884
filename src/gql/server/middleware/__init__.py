"""Pure-ASGI middleware that reads a GraphQL request before the view does."""

from gql.server.middleware.request import GraphQLRequestMiddleware

__all__ = ["GraphQLRequestMiddleware"]
