"""Identifiers: every entity id is a ULID (26 characters, Crockford base32)."""

from __future__ import annotations

import re

from ulid import ULID

_ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")


def new_id() -> str:
    return str(ULID())


def parse_ulid(value: str) -> str | None:
    """A ULID given in either case, upper-cased as ids are stored; None if it is none."""
    upper = value.upper()
    return upper if _ULID_RE.match(upper) else None
