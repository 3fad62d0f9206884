"""The compiler: any query document, and every mutation's payload, answered from a plan.

Strawberry executes a page of 100 entries field by field: a resolver call, an awaitable
and a DataLoader hop per value. Here a document is planned once (``plan``): for each
selected field, the declaration it has in its type (``gql.schema.declare``) says how to
answer it for all the objects of a level at once; ``run`` runs the plan level by level
(one statement per relation and level, whatever the page sizes) and builds the answer as
plain dicts in the order and shape standard execution gives. ``executor`` puts it in
front of standard execution, which answers introspection, subscriptions, errors and
whatever ``plan.NOT_COMPILED`` lists; ``writes`` is ``logTimeEntry``'s one-statement
write. A differential test holds the two paths byte-identical.
"""

from __future__ import annotations

from gql.compiler.executor import Compiler, Prepared

__all__ = ["Compiler", "Prepared"]
