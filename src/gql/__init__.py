"""Punchclock's GraphQL server (Strawberry on Starlette)."""
