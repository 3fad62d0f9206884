"""The ``Node`` interface (Relay's Global Object Identification): every entity has one,
and ``node(id:)`` fetches any of them again by its id alone.

The id stays the entity's ULID, as the contract fixes it: no type is encoded in it. The
type of a row is found by looking the id up (``store.nodes``).
"""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object with an id: fetch it again with `node(id:)` (Relay's Node)."
)
class Node:
    id: strawberry.ID = strawberry.field(description="The entity's ULID.")
