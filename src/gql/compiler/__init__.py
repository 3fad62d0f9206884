"""The compiled read path: repeated, fully plannable documents without per-field execution.

Strawberry executes a page of 100 entries field by field: a resolver call, an awaitable
and a DataLoader hop per value, some 13 ms of CPU where the data costs well under one.
For a document whose every field is known here (the ``timeEntries`` connection with the
entry's scalars and its team, user, task and category), the plan is compiled once per
document text, the page and its relations come from ONE joined statement, and the answer
is built as plain dicts, in the order and shape the standard path gives, then encoded by
the same view. Anything else (other fields, directives, errors, introspection, mutations,
invalid variables) takes the standard path; a differential test holds the two
byte-identical.
"""

from __future__ import annotations

from gql.compiler.executor import FastPath

__all__ = ["FastPath"]
