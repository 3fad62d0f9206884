"""Every field of every object type has one declaration the compiler plans from.

A field with a written-out resolver but no declaration (``gql.schema.declare``) fails
here, and so does one the compiler could not plan; fields it never takes are listed in
``gql.compiler.plan.NOT_COMPILED`` with their reason.
"""

from __future__ import annotations

from graphql import GraphQLObjectType

from gql.compiler.plan import NOT_COMPILED
from gql.schema.build import schema
from gql.schema.declare import Column, Computed, Related, Resolved, plan_of


def _object_types() -> list[GraphQLObjectType]:
    return [
        t
        for name, t in schema._schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
    ]


def _not_compiled(type_name: str, field_name: str) -> str | None:
    return NOT_COMPILED.get(f"{type_name}.{field_name}") or NOT_COMPILED.get(f"{type_name}.*")


def test_every_field_is_declared_and_planned_or_listed_with_its_reason() -> None:
    kinds: dict[str, int] = {}
    undeclared = []
    for gtype in _object_types():
        for name, gfield in gtype.fields.items():
            if _not_compiled(gtype.name, name):
                kinds["not compiled"] = kinds.get("not compiled", 0) + 1
                continue
            definition = gfield.extensions.get("strawberry-definition")
            try:
                plan = plan_of(definition)
            except LookupError:
                undeclared.append(f"{gtype.name}.{name}")
                continue
            kind = "attribute" if plan is None else type(plan).__name__
            if isinstance(plan, Resolved):
                assert plan.why.strip(), f"{gtype.name}.{name}: a resolver needs its reason"
            assert plan is None or isinstance(plan, Column | Computed | Related | Resolved)
            kinds[kind] = kinds.get(kind, 0) + 1
    print(f"declarations by kind: {kinds}")
    assert undeclared == [], f"fields without a declaration: {undeclared}"
    assert kinds.get("Column", 0) > 30 and kinds.get("Related", 0) > 10


def test_what_is_not_compiled_names_real_fields_with_reasons() -> None:
    names = {t.name: t for t in _object_types()}
    for key, reason in NOT_COMPILED.items():
        type_name, _, field_name = key.partition(".")
        assert type_name in names, key
        assert field_name == "*" or field_name in names[type_name].fields, key
        assert reason.strip(), key


def test_a_field_with_a_resolver_and_no_declaration_is_refused() -> None:
    import strawberry

    @strawberry.type
    class Probe:
        @strawberry.field
        def undeclared(self) -> int:
            return 1

    field = Probe.__strawberry_definition__.fields[0]  # type: ignore[attr-defined]
    try:
        plan_of(field)
    except LookupError:
        return
    raise AssertionError("plan_of accepted a resolver without a declaration")
