"""Relay connections with opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import strawberry

from gql.schema.declare import COUNTED, computed
from gql.schema.errors import CodedError, TopLevelCode
from store.ids import parse_ulid
from store.paging import Window

T = TypeVar("T")

DEFAULT_PAGE = 50
MAX_PAGE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


def _edges(c: Any, _ctx: Any) -> list[Edge[Any]]:
    return [
        Edge(cursor=cursor, node=node) for cursor, node in zip(c.cursors(), c.nodes, strict=True)
    ]


def _page_info(c: Any, _ctx: Any) -> PageInfo:
    cursors = c.cursors() if c.nodes else []
    return PageInfo(
        has_next_page=c.has_next,
        has_previous_page=c.has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


@strawberry.type
class Connection(Generic[T]):
    """A page: its nodes, and its edges and page info built only when selected."""

    edges: list[Edge[T]] = computed(_edges)
    nodes: list[T]
    page_info: PageInfo = computed(_page_info)
    count: strawberry.Private[Callable[[], Awaitable[int]]]
    cursor_of: strawberry.Private[Callable[[T], str]]
    has_next: strawberry.Private[bool]
    has_previous: strawberry.Private[bool]

    @strawberry.field(metadata=COUNTED, description="All items the filter matches, across pages.")
    async def total_count(self) -> int:
        return await self.count()

    def cursors(self) -> list[str]:
        cursor_of = self.cursor_of
        return [cursor_of(n) for n in self.nodes]

    @classmethod
    def build(
        cls,
        nodes: Sequence[T],
        cursor_of: Callable[[T], str],
        *,
        has_next: bool,
        has_previous: bool,
        count: Callable[[], Awaitable[int]],
    ) -> Connection[T]:
        return cls(
            nodes=list(nodes),
            count=count,
            cursor_of=cursor_of,
            has_next=has_next,
            has_previous=has_previous,
        )


async def _zero() -> int:
    return 0


def empty_connection() -> Connection[T]:
    return Connection.build([], str, has_next=False, has_previous=False, count=_zero)


def check_first(first: int | None, name: str = "first") -> int:
    """A page size (``first``, or ``last`` by ``name``): 50 when not given, 0 to 100."""
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise CodedError(TopLevelCode.VALIDATION, f"`{name}` must not be negative.")
    if first > MAX_PAGE:
        raise CodedError(
            TopLevelCode.QUERY_TOO_COMPLEX, f"`{name}` may not exceed {MAX_PAGE} (got {first})."
        )
    return first


def page_window(
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    decode: Callable[[str], tuple[Any, ...]],
) -> Window:
    """The rows a connection's arguments ask for (the Relay cursor spec): ``first``
    after ``after``, or, when ``last`` is given, the ``last`` nearest ``before`` (both
    cursors may be given). ``first`` and ``last`` together never get here: admission
    refuses them (``gql.guard.limits``), since ``first`` has a default. Cursors are
    checked before anything is read."""
    backward = last is not None
    size = check_first(last, "last") if backward else check_first(first)
    start = decode(after) if after is not None else None
    end = decode(before) if before is not None else None
    return Window(size, start, end, backward)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CodedError(TopLevelCode.VALIDATION, "Invalid cursor.") from exc


def _invalid_cursor() -> CodedError:
    return CodedError(TopLevelCode.VALIDATION, "Invalid cursor.")


# The instants a DateTime holds (years 1 to 9999): a cursor outside them is no cursor.
_EARLIEST, _LATEST = -62135596800, 253402300799


_LARGEST_POSITION = 2**63 - 1


def _is_integer(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses."""
    return text.isascii() and text.isdigit()


def entry_cursor(started_at: datetime, entry_id: str) -> str:
    return _b64(f"e|{int(started_at.timestamp())}|{entry_id}")


def decode_entry_cursor(cursor: str) -> tuple[datetime, str]:
    # Cursors are ours, but a client can send anything: a tampered one must be refused
    # here, not reach the database (a NUL byte, which PostgreSQL rejects, or a year
    # past 9999, which datetime cannot hold).
    parts = _unb64(cursor).split("|")
    if len(parts) != 3 or parts[0] != "e" or not _is_integer(parts[1].removeprefix("-")):
        raise _invalid_cursor()
    seconds, entry_id = int(parts[1]), parse_ulid(parts[2])
    if not _EARLIEST <= seconds <= _LATEST or entry_id is None:
        raise _invalid_cursor()
    return datetime.fromtimestamp(seconds, UTC), entry_id


def event_cursor(position: int) -> str:
    """The cursor of a team's event: where a stream or the change feed resumes."""
    return _b64(f"p|{position}")


def decode_event_cursor(cursor: str) -> int:
    parts = _unb64(cursor).split("|")
    if len(parts) != 2 or parts[0] != "p" or not _is_integer(parts[1]):
        raise CodedError(TopLevelCode.BAD_USER_INPUT, "Invalid event cursor.")
    position = int(parts[1])
    if position > _LARGEST_POSITION:  # no BIGINT holds it: the database would fail
        raise CodedError(TopLevelCode.BAD_USER_INPUT, "Invalid event cursor.")
    return position


def id_cursor(kind: str, item_id: str) -> str:
    return _b64(f"{kind}|{item_id}")


def decode_id_cursor(kind: str, cursor: str) -> str:
    parts = _unb64(cursor).split("|")
    item_id = parse_ulid(parts[1]) if len(parts) == 2 and parts[0] == kind else None
    if item_id is None:
        raise _invalid_cursor()
    return item_id


def decode_number_cursor(kind: str, cursor: str) -> int:
    """The number in a cursor of ``id_cursor(kind, str(number))`` (a delivery's id)."""
    parts = _unb64(cursor).split("|")
    if len(parts) != 2 or parts[0] != kind or not _is_integer(parts[1]):
        raise _invalid_cursor()
    number = int(parts[1])
    if number > _LARGEST_POSITION:  # no BIGINT holds it: the database would fail
        raise _invalid_cursor()
    return number
