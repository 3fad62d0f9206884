"""SharedLoader's kept values: what priming gives, without a future per row."""

from __future__ import annotations

from collections.abc import Sequence

from gql.schema.loaders import SharedLoader, cached_values


def _loader(calls: list[list[str]]) -> SharedLoader[str, str]:
    async def load(keys: Sequence[str]) -> list[str]:
        calls.append(list(keys))
        return [f"db:{k}" for k in keys]

    return SharedLoader(load_fn=load)


async def test_kept_values_are_loaded_without_the_database() -> None:
    calls: list[list[str]] = []
    loader = _loader(calls)
    loader.keep("a", "kept:a")
    assert cached_values(loader, ["a"]) == ["kept:a"]
    assert cached_values(loader, ["a", "b"]) is None  # "b" is neither kept nor loaded
    assert await loader.load("a") == "kept:a"
    assert await loader.load_many(["a", "b"]) == ["kept:a", "db:b"]
    assert calls == [["b"]]
    assert cached_values(loader, ["a", "b"]) == ["kept:a", "db:b"]  # settled futures too


async def test_keeping_leaves_what_is_cached_and_a_forced_prime_wins() -> None:
    calls: list[list[str]] = []
    loader = _loader(calls)
    assert await loader.load("a") == "db:a"
    loader.keep("a", "kept:a")  # loaded first: as prime() would, it stays
    assert await loader.load("a") == "db:a"
    loader.keep("b", "kept:b")
    loader.prime("b", "primed:b")  # not forced: the kept value came first
    assert await loader.load("b") == "kept:b"
    loader.keep("c", "kept:c")
    loader.prime("c", "forced:c", force=True)
    assert cached_values(loader, ["c"]) == ["forced:c"]
    assert await loader.load("c") == "forced:c"
    assert calls == [["a"]]
