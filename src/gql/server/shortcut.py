"""The compiled path's HTTP shortcut: a plain JSON POST goes straight to the compiler.

Strawberry's HTTP handling around a request (parsing, checks and hooks) costs more than
the compiled answer; for a POST of ``application/json`` with one plain GraphQL request,
the body is read here, the document goes to ``gql.compiler`` and an answer with data and
no errors is sent straight to ASGI (same body, status and headers as Strawberry's). The
rest, and whatever the compiler hands back, goes through the view's ``run`` as always,
with the body read here replayed and the context built here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from strawberry.types import ExecutionResult

from gql.schema.context import Context
from gql.server.auth import bearer_token
from gql.server.middleware.body import read_body, replaying

GRAPHQL_RESPONSE_JSON_BYTES = b"application/graphql-response+json"
GRAPHQL_RESPONSE_CONTENT_TYPE = GRAPHQL_RESPONSE_JSON_BYTES + b"; charset=utf-8"


async def compiled_post(view: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """A POST: a plannable JSON request goes straight to the compiled path, without
    Strawberry's HTTP handling around it (parsing, checks and hooks cost more than
    the compiled path's answer); the rest, and whatever it hands back, goes through
    ``run`` as always, with the body read here replayed and the context built here."""
    head = _plain_json_request(scope)
    body = await read_body(receive) if head is not None else None
    replay = receive if body is None else replaying(body, receive)
    data = _fast_request_data(body) if body is not None else None
    assert view.fast_path is not None
    refused = await view.parse_gate.check(data[0]) if data is not None else None
    if head is not None and refused is not None:
        # Refused before anything else (authentication, execution): cheap to send.
        request = Request(scope, replay)
        sub_response = await view._sub_response(request)
        response_data = await view.process_result(request, view._refused(refused))
        await view.create_response(response_data, sub_response)(scope, replay, send)
        return
    plan = view.fast_path.plan(data[0], data[2]) if data is not None else None
    if head is None or data is None or plan is None:
        await view._answer(Request(scope, replay), send)
        return
    request = Request(scope, replay)
    result = None
    context: Context | None = None
    prepaid = None
    if plan.log_write:
        # A compiled write checks the token in its own first statement; declined
        # (a replay, an external ref...), the compiler answers with an authenticated
        # context, which runs the mutation as every other one.
        token = bearer_token(head.authorization)
        if token is not None:
            bare = view._context(request, None, token=token)
            result = await view.fast_path.execute(bare, *data, writes=True)
            prepaid = bare.rate_prepaid
        if result is None:
            context = await view.get_context(request, await view._sub_response(request))
            context.rate_prepaid = prepaid
            if not context.unavailable:
                result = await view.fast_path.execute(context, *data, writes=True)
    else:
        context = await view.get_context(request, await view._sub_response(request))
        if not context.unavailable:
            result = await view.fast_path.execute(context, *data, writes=True)
    if result is not None and not result.errors and result.data is not None:
        await _send_data(send, result, modern=GRAPHQL_RESPONSE_JSON_BYTES in head.accept)
        return
    sub_response = await view._sub_response(request)
    if context is None:
        context = await view.get_context(request, sub_response)
        context.rate_prepaid = prepaid  # a declined compiled write was charged already
    if result is None:
        request.state.punchclock_fast_path_tried = True  # execute_single: not again
        await view._answer(request, send, context)
        return
    response_data = await view.process_result(request, result)
    if result.errors:
        view._handle_errors(result.errors, response_data)
    response = view.create_response(response_data, sub_response)
    await response(scope, replay, send)


FAST_BODY_KEYS = frozenset({"query", "variables", "operationName"})


class _Head(NamedTuple):
    accept: bytes
    authorization: str | None


def _plain_json_request(scope: Scope) -> _Head | None:
    """The headers ``_post`` reads of a POST of ``application/json`` that wants a single
    JSON answer (no streaming); None for any other request."""
    content_type = accept = authorization = None
    for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
        if name == b"content-type":
            content_type = value if content_type is None else content_type
        elif name == b"accept":
            accept = value if accept is None else accept
        elif name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
    content_type, accept = content_type or b"", accept or b""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media != b"application/json" or b"multipart" in accept or b"event-stream" in accept:
        return None
    return _Head(accept, authorization)


async def _send_data(send: Send, result: ExecutionResult, *, modern: bool) -> None:
    """An answer with data and no errors, as ``process_result`` and ``create_response``
    make it (same body, status and headers), without building a Response for it."""
    answer: dict[str, Any] = {"data": result.data}
    if result.extensions:
        answer["extensions"] = result.extensions
    payload = orjson.dumps(answer)
    content_type = GRAPHQL_RESPONSE_CONTENT_TYPE if modern else b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(payload)).encode("latin-1")),
                (b"content-type", content_type),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _fast_request_data(body: bytes) -> tuple[str, dict[str, Any] | None, str | None] | None:
    """(query, variables, operationName) of a single, plain GraphQL request; None for
    anything else (a batch, extensions, odd types, JSON orjson does not read)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or not payload.keys() <= FAST_BODY_KEYS:
        return None
    query, variables, name = (
        payload.get("query"),
        payload.get("variables"),
        payload.get("operationName"),
    )
    if (
        not isinstance(query, str)
        or not (variables is None or isinstance(variables, dict))
        or not (name is None or isinstance(name, str))
    ):
        return None
    return query, variables, name
