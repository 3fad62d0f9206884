"""The GraphQL schema: types, queries, mutations, subscriptions, scalars and errors.

``build`` assembles the Strawberry schema; ``types`` declares every object type once (each
field's one declaration is what both standard execution and ``gql.compiler`` use);
``context`` is the per-request context and its typed ``Info``.
"""
