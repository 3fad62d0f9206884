"""Hostile GraphQL documents (issue 17): each is small, and each would make a server
that expands fragments or validates before limiting do far more work than its size.
The catalogue test asserts their refusal; bench/hostile_bench.py times it."""

from __future__ import annotations


def fragment_bomb(n: int = 25) -> str:
    """25 fragments, each spreading the next twice: 2**25 fields once expanded (1 KB)."""
    fragments = [f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n)]
    return "{ viewer { ...F0 } } " + " ".join(fragments) + f" fragment F{n} on User {{ id }}"


def deep_fragments(n: int = 20) -> str:
    """Nesting through fragments, each level spread twice: deep and exponential."""
    fragments = [
        f"fragment C{i} on Category {{ parent {{ ...C{i + 1} }} children {{ ...C{i + 1} }} }}"
        for i in range(n)
    ]
    return (
        "{ viewer { teams { categories { ...C0 } } } } "
        + " ".join(fragments)
        + f" fragment C{n} on Category {{ id }}"
    )


def wide_alias_fragments(n: int = 20, width: int = 20) -> str:
    """Aliases in a fragment, spread through a doubling chain: width * 2**n aliases."""
    aliases = " ".join(f"a{i}: id" for i in range(width))
    fragments = [f"fragment W{i} on User {{ ...W{i + 1} ...W{i + 1} }}" for i in range(n)]
    return "{ viewer { ...W0 } } " + " ".join(fragments) + f" fragment W{n} on User {{ {aliases} }}"


def many_operations(n: int = 200) -> str:
    """Many operations sharing one wide fragment: validation walks it once for each."""
    fields = " ".join(["id nickname email timeZone locale"] * 4)
    operations = " ".join(f"query Q{i} {{ viewer {{ ...U }} }}" for i in range(n))
    return operations + f" fragment U on User {{ {fields} }}"


def many_variables(n: int = 400) -> str:
    """A long list of variable definitions, all unused."""
    definitions = " ".join(f"$v{i}: Int" for i in range(n))
    return f"query({definitions}) {{ viewer {{ id }} }}"


def same_field(n: int = 1900) -> str:
    """One response name selected again and again: graphql-core compares them pairwise."""
    return "{ viewer { " + "id " * n + "} }"


def alias_conflicts(n: int = 600) -> str:
    """One alias for two different fields, again and again: pairwise conflicts."""
    fields = " ".join(f"a: {'id' if i % 2 else 'nickname'}" for i in range(n))
    return "{ viewer { " + fields + " } }"


HOSTILE = {
    "fragment bomb": fragment_bomb,
    "deep nesting through fragments": deep_fragments,
    "wide aliases through fragments": wide_alias_fragments,
    "many operations": many_operations,
    "long list of variables": many_variables,
    "one field 1900 times": same_field,
    "600 conflicting aliases": alias_conflicts,
}
