"""schema.graphql at the root is exported from the code; this fails when it drifts."""

from __future__ import annotations

from pathlib import Path

from gql.schema.build import export_sdl

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_sdl(), (
        "schema.graphql drifted: run `punchclock export-schema > schema.graphql`"
    )


def test_contract_names_are_in_the_schema() -> None:
    sdl = export_sdl()
    for name in (
        "viewer: User!",
        "teams: [Team!]!",
        "team(id: ID!): Team",
        "task(id: ID!): Task",
        "category(id: ID!): Category",
        "timeEntry(id: ID!): TimeEntry",
        "timeEntries(filter: TimeEntryFilter!, first: Int = 50, after: String",
    ):
        assert name in sdl, name


def test_change_kinds_are_the_event_kinds() -> None:
    from gql.schema.changes import ChangeKind
    from store.events import CatalogKind, EventKind

    assert {k.value for k in ChangeKind} == {k.value for k in (*EventKind, *CatalogKind)}


def test_every_custom_scalar_names_its_specification() -> None:
    from graphql import GraphQLScalarType, specified_scalar_types

    from gql.schema.build import schema

    builtin = set(specified_scalar_types)
    custom = [
        t
        for t in schema._schema.type_map.values()
        if isinstance(t, GraphQLScalarType) and t.name not in builtin
    ]
    assert {t.name for t in custom} == {"BigInt", "Date", "DateTime"}
    assert all(t.specified_by_url and t.specified_by_url.startswith("https://") for t in custom)
