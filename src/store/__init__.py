"""Persistence for Punchclock: SQLModel tables and async query/command functions.

This package never imports the GraphQL layer and never reads the environment.
"""
