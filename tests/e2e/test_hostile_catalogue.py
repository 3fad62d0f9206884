"""Every bad request gets a coded GraphQL error, and the server stays up (issue 17).

A real uvicorn on each database gets the catalogue of the issue (each input it names,
with the code it must get) and then what hypothesis makes of bodies, headers and
WebSocket frames. For every HTTP answer: JSON (never ``text/plain``), an ``X-Request-Id``
that each error repeats, a code on every error, no ``INTERNAL`` (all of it is the
client's mistake) and so no 500. For every WebSocket: JSON text frames, coded errors,
no close 1011 (a server error). Afterwards the server answers a plain query and its log
holds no traceback.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from store.db import Database
from tests.factories import add_entries, make_team
from tests.hostile import HOSTILE
from tests.reliability.harness import server_process
from tests.services import IN_CI

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("PUNCHCLOCK_HOSTILE_EXAMPLES", "150"))  # per strategy, database
GRAPHQL_MEDIA = ("application/json", "application/graphql-response+json")
LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "sqlite3", "/src/", "site-packages")

PAGE = "query($f: TimeEntryFilter!, $n: Int, $a: String) { timeEntries(filter: $f, first: $n, after: $a) { nodes { id } pageInfo { endCursor } } }"
LOG = "mutation($input: LogTimeEntryInput!) { logTimeEntry(input: $input) { userErrors { code field } timeEntry { id } } }"
EVENTS = "subscription($t: ID!) { timerEvents(teamId: $t) { kind timeEntry { id } } }"
VIEWER = "{ viewer { id } }"
CHANGES = "query($t: ID!, $a: String) { teamChanges(teamId: $t, after: $a) { __typename } }"
# A lone surrogate escaped in the document itself (graphql-core refuses the escape).
LOG_LITERAL = (
    'mutation { logTimeEntry(input: {teamId: "TEAM", taskId: "TASK", durationSeconds: 60, '
    'description: "\\ud800"}) { userErrors { code } } }'
)


def check_http(response: httpx.Response, where: object) -> list[str]:
    """The invariants of every HTTP answer; returns the errors' codes."""
    media = response.headers.get("content-type", "").split(";")[0].strip()
    assert media in GRAPHQL_MEDIA, (where, response.status_code, media, response.text[:300])
    request_id = response.headers.get("x-request-id")
    assert request_id, (where, response.headers)
    body = response.json()
    assert isinstance(body, dict), (where, body)
    codes = []
    for error in body.get("errors") or []:
        extensions = error.get("extensions") or {}
        code = extensions.get("code")
        assert isinstance(code, str), (where, error)
        assert extensions.get("requestId") == request_id, (where, error, request_id)
        assert not any(leak in error.get("message", "") for leak in LEAKS), (where, error)
        codes.append(code)
    assert "INTERNAL" not in codes, (where, body)
    assert response.status_code != 500, (where, body)
    if response.status_code == 503:
        assert "UNAVAILABLE" in codes, (where, body)
    return codes


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
visible = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
    str.strip
)


def request_bodies(world: dict[str, Any]) -> st.SearchStrategy[bytes]:
    documents = st.sampled_from([PAGE, LOG, EVENTS, VIEWER, "{", "query Q { viewer { id } }"])
    variables = st.fixed_dictionaries(
        {},
        optional={
            "f": st.just({"teamId": world["team"]}) | json_values,
            "n": st.integers() | json_values,
            "a": st.sampled_from(world["cursors"])
            | st.text(max_size=30).map(_cursor)
            | json_values,
            "t": st.just(world["team"]) | json_values,
            "input": st.fixed_dictionaries(
                {"teamId": st.just(world["team"]), "taskId": st.just(world["task"])},
                optional={
                    "durationSeconds": st.integers() | json_values,
                    "description": st.text(max_size=30) | json_values,
                    "startedAt": visible | json_values,
                },
            )
            | json_values,
        },
    )
    requests = st.fixed_dictionaries(
        {},
        optional={
            "query": documents | st.text(max_size=40) | json_values,
            "variables": variables | json_values,
            "operationName": st.sampled_from([None, "Q", "Nope"]) | json_values,
            "extensions": json_values,
        },
    )
    return st.one_of(
        st.binary(max_size=120),
        json_values.map(lambda v: json.dumps(v).encode()),
        requests.map(lambda r: json.dumps(r).encode()),
        st.lists(requests, max_size=3).map(lambda r: json.dumps(r).encode()),
    )


def request_heads(world: dict[str, Any]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "content-type": st.sampled_from(
                [
                    "application/json",
                    "application/json; charset=utf-8",
                    "text/plain",
                    "application/graphql",
                    "multipart/form-data; boundary=x",
                    "application/x-www-form-urlencoded",
                ]
            )
            | visible,
            "accept": st.sampled_from(
                ["application/json", "application/graphql-response+json", "*/*"]
            )
            | visible.filter(
                lambda v: "html" not in v and "stream" not in v and "multipart" not in v
            ),
            "authorization": st.sampled_from(
                [f"Bearer {world['token']}", "Bearer pc_x", "Basic abc", "Bearer", ""]
            )
            | visible,
            "x-request-id": visible,
        },
    )


Catalogue = list[tuple[str, Callable[[httpx.Client], httpx.Response], set[str]]]


def catalogue(world: dict[str, Any]) -> Catalogue:
    auth = {"authorization": f"Bearer {world['token']}", "content-type": "application/json"}
    modern = {**auth, "accept": "application/graphql-response+json"}

    def post(
        body: bytes, headers: dict[str, str] = auth
    ) -> Callable[[httpx.Client], httpx.Response]:
        return lambda client: client.post("/graphql", content=body, headers=headers)

    def gql(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> bytes:
        return json.dumps({"query": query, "variables": variables or {}, **extra}).encode()

    page = {"f": {"teamId": world["team"]}}
    team = {"t": world["team"]}
    description = {"teamId": world["team"], "taskId": world["task"], "durationSeconds": 60}
    cases: Catalogue = [
        ("a JSON string", post(b'"hello"'), {"BAD_REQUEST"}),
        ("a JSON array of numbers", post(b"[1, 2]"), {"BAD_REQUEST"}),
        ("invalid UTF-8", post(b'{"query": "{ viewer { id } }\xff"}'), {"BAD_REQUEST"}),
        ("JSON nested 50,000 deep", post(b"[" * 50_000 + b"]" * 50_000), {"BAD_REQUEST"}),
        (
            "variables nested 50,000 deep",
            post(
                b'{"query": "{ viewer { id } }", "variables": {"a": '
                + b"[" * 50_000
                + b"]" * 50_000
                + b"}}"
            ),
            {"BAD_REQUEST"},
        ),
        ("an empty body", post(b""), {"BAD_REQUEST"}),
        ("`first` of 2**70", post(gql(PAGE, {**page, "n": 2**70})), {"BAD_USER_INPUT"}),
        ("`first` of -2**70", post(gql(PAGE, {**page, "n": -(2**70)})), {"BAD_USER_INPUT"}),
        ("operationName an object", post(gql(VIEWER, operationName={"a": 1})), {"BAD_REQUEST"}),
        ("operationName an array", post(gql(VIEWER, operationName=[1])), {"BAD_REQUEST"}),
        ("operationName unknown", post(gql(VIEWER, operationName="Nope")), {"BAD_REQUEST"}),
        ("query a number", post(b'{"query": 5}'), {"BAD_REQUEST"}),
        (
            "variables a list",
            post(b'{"query": "{ viewer { id } }", "variables": [1]}'),
            {"BAD_REQUEST"},
        ),
        ("no query", post(b'{"variables": {}}'), {"BAD_REQUEST"}),
        ("a batch, batching off", post(b'[{"query": "{ viewer { id } }"}]'), {"BAD_REQUEST"}),
        (
            "a cursor with a NUL byte",
            post(gql(PAGE, {**page, "a": _cursor("e|0|\x00")})),
            {"VALIDATION"},
        ),
        (
            "a cursor of NUL bytes",
            post(gql(PAGE, {**page, "a": _cursor("\x00" * 8)})),
            {"VALIDATION"},
        ),
        (
            "a cursor past year 9999",
            post(gql(PAGE, {**page, "a": _cursor("e|99999999999999|01ARZ3NDEKTSV4RRFFQ69G5FAV")})),
            {"VALIDATION"},
        ),
        ("a cursor, not base64", post(gql(PAGE, {**page, "a": "!!!"})), {"VALIDATION"}),
        (
            "an event cursor past BIGINT",
            post(gql(CHANGES, {**team, "a": _cursor("p|" + "9" * 30)})),
            {"BAD_USER_INPUT"},
        ),
        (
            "an event cursor with a unicode digit",
            post(gql(CHANGES, {**team, "a": _cursor("p|\u00b2")})),
            {"BAD_USER_INPUT"},
        ),
        (
            "a cursor with a unicode digit",
            post(gql(PAGE, {**page, "a": _cursor("e|\u00b2|x")})),
            {"VALIDATION"},
        ),
        (
            "a lone surrogate in a variable",
            post(
                b'{"query": "%s", "variables": {"input": {"teamId": "%s", "taskId": "%s", "durationSeconds": 60, "description": "\\ud800"}}}'
                % (LOG.replace('"', '\\"').encode(), world["team"].encode(), world["task"].encode())
            ),
            {"BAD_REQUEST"},
        ),
        (
            "a lone surrogate in the document",
            post(gql(LOG_LITERAL.replace("TEAM", world["team"]).replace("TASK", world["task"]))),
            {"GRAPHQL_VALIDATION_FAILED"},
        ),
        (
            "a NUL in a variable",
            post(gql(LOG, {"input": {**description, "description": "a\x00b"}})),
            {"BAD_USER_INPUT"},
        ),
        ("a subscription by POST", post(gql(EVENTS, {"t": world["team"]})), {"BAD_REQUEST"}),
        (
            "a subscription by POST, modern",
            post(gql(EVENTS, {"t": world["team"]}), modern),
            {"BAD_REQUEST"},
        ),
        (
            "a mutation by GET",
            lambda c: c.get("/graphql", params={"query": LOG}, headers=auth),
            {"BAD_REQUEST"},
        ),
        (
            "GET variables not JSON",
            lambda c: c.get("/graphql", params={"query": VIEWER, "variables": "{"}, headers=auth),
            {"BAD_REQUEST"},
        ),
        (
            "text/plain body",
            post(b"{ viewer { id } }", {**auth, "content-type": "text/plain"}),
            {"BAD_REQUEST"},
        ),
        ("no such route", lambda c: c.get("/nope", headers=auth), {"NOT_FOUND"}),
        (
            "PUT /graphql",
            lambda c: c.put("/graphql", content=gql(VIEWER), headers=auth),
            {"BAD_REQUEST"},
        ),
        ("POST /healthz", lambda c: c.post("/healthz", headers=auth), {"BAD_REQUEST"}),
        ("no token", post(gql(VIEWER), {"content-type": "application/json"}), {"UNAUTHENTICATED"}),
        (
            "a wrong token",
            post(gql(VIEWER), {**auth, "authorization": "Bearer pc_aaaaaaaaaaaa_" + "b" * 32}),
            {"UNAUTHENTICATED"},
        ),
        (
            "a body over the limit",
            post(b'{"query": "' + b"x" * 1_100_000 + b'"}'),
            {"PAYLOAD_TOO_LARGE"},
        ),
    ]
    for name, make in HOSTILE.items():
        cases.append((name, post(gql(make())), {"QUERY_TOO_COMPLEX"}))
        cases.append((name + ", modern", post(gql(make()), modern), {"QUERY_TOO_COMPLEX"}))
    return cases


def _ws(base: str, protocol: str) -> ClientConnection:
    url = base.replace("http://", "ws://") + "/graphql"
    return connect(url, subprotocols=[protocol], open_timeout=5, max_size=None)  # type: ignore[list-item]


def _drain(ws: ClientConnection, seconds: float) -> tuple[list[dict[str, Any]], int | None]:
    """Messages until ``seconds`` of silence or the close; (messages, close code)."""
    messages: list[dict[str, Any]] = []
    try:
        while True:
            raw = ws.recv(timeout=seconds)
            assert isinstance(raw, str), raw
            messages.append(json.loads(raw))
    except TimeoutError:
        return messages, None
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd is not None else None


def check_ws(messages: list[dict[str, Any]], code: int | None, where: object) -> None:
    assert code != 1011, (where, messages)
    for message in messages:
        payload = message.get("payload")
        errors = payload if isinstance(payload, list) else [payload]
        if isinstance(payload, dict) and "errors" in payload:
            errors = payload["errors"]
        if message.get("type") in ("error", "connection_error") or (
            isinstance(payload, dict) and "errors" in payload
        ):
            for error in errors:
                assert isinstance(error, dict), (where, message)
                code_ = (error.get("extensions") or {}).get("code")
                assert isinstance(code_, str) and code_ != "INTERNAL", (where, message)


def ws_catalogue(base: str, world: dict[str, Any]) -> None:
    init = json.dumps(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {world['token']}"}}
    )
    # The legacy protocol: a query, a mutation, a malformed start, each a coded error.
    with _ws(base, "graphql-ws") as ws:
        ws.send(init)
        assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
        for op, query in (("q", VIEWER), ("m", LOG), ("bad", None)):
            payload = {"query": query, "variables": {}} if query else "nope"
            ws.send(json.dumps({"type": "start", "id": op, "payload": payload}))
            while True:
                message = json.loads(ws.recv(timeout=5))
                if message["type"] != "ka":
                    break
            assert message["type"] == "error" and message["id"] == op, message
            assert message["payload"]["extensions"]["code"] == "BAD_REQUEST", message
    # Refused logins: a coded connection_error and 4403, missing and wrong told apart.
    messages = {}
    for token in (None, "pc_aaaaaaaaaaaa_" + "b" * 32):
        with _ws(base, "graphql-ws") as ws:
            auth = {"authorization": f"Bearer {token}"} if token else {}
            ws.send(json.dumps({"type": "connection_init", "payload": auth}))
            received, code = _drain(ws, 5)
        assert code == 4403, (received, code)
        [refusal] = received
        assert refusal["type"] == "connection_error", refusal
        assert refusal["payload"]["extensions"]["code"] == "UNAUTHENTICATED", refusal
        messages[token] = refusal["payload"]["message"]
    assert len(set(messages.values())) == 2, messages
    reasons = set()
    for init in ({}, {"authorization": "Bearer pc_aaaaaaaaaaaa_" + "b" * 32}):
        with _ws(base, "graphql-transport-ws") as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": init}))
            try:
                ws.recv(timeout=5)
                raise AssertionError("a refused login was not closed")
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4403, closed
                reasons.add(closed.rcvd.reason)
    assert len(reasons) == 2, reasons  # missing and wrong told apart


def ws_frames(world: dict[str, Any]) -> st.SearchStrategy[tuple[str, bool, list[str | bytes]]]:
    types = st.sampled_from(
        [
            "connection_init",
            "subscribe",
            "start",
            "stop",
            "complete",
            "ping",
            "pong",
            "connection_terminate",
        ]
    ) | st.text(max_size=10)
    payloads = (
        st.fixed_dictionaries(
            {},
            optional={
                "query": st.sampled_from([EVENTS, VIEWER, LOG, "{", HOSTILE["fragment bomb"]()])
                | json_values,
                "variables": st.just({"t": world["team"]}) | json_values,
                "operationName": json_values,
            },
        )
        | json_values
    )
    messages = st.fixed_dictionaries(
        {"type": types}, optional={"id": st.text(max_size=5) | json_values, "payload": payloads}
    )
    frames = st.one_of(
        messages.map(json.dumps),
        json_values.map(json.dumps),
        st.text(max_size=40),
        st.binary(max_size=40),
    )
    return st.tuples(
        st.sampled_from(["graphql-transport-ws", "graphql-ws"]),
        st.booleans(),
        st.lists(frames, min_size=1, max_size=4),
    )


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_every_bad_request_gets_a_coded_graphql_error(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    acme = await make_team(db, "Acme", prefix="a")
    await add_entries(
        db, team_id=acme.id, user_id=acme.owner.id, task_id=acme.tasks["T-1"], count=3
    )
    log_path = tmp_path / "server.log"
    with (
        server_process(database_url, log_path) as server,
        httpx.Client(base_url=server.base, timeout=30) as client,
    ):
        auth = {"authorization": f"Bearer {acme.owner.token}"}
        first = client.post(
            "/graphql",
            json={"query": PAGE, "variables": {"f": {"teamId": acme.id}, "n": 1}},
            headers=auth,
        ).json()
        world = {
            "team": acme.id,
            "task": acme.tasks["T-1"],
            "token": acme.owner.token,
            "cursors": [first["data"]["timeEntries"]["pageInfo"]["endCursor"]],
        }
        # The issue's catalogue, each with the code it must get.
        for name, send, expected in catalogue(world):
            started = time.monotonic()
            response = send(client)
            codes = check_http(response, name)
            assert set(codes) & expected, (name, codes, response.text[:300])
            assert time.monotonic() - started < 5, name  # generous: refused, not computed
        unauthenticated = {
            client.post("/graphql", json={"query": VIEWER}, headers=headers).json()["errors"][0][
                "message"
            ]
            for headers in ({}, {"authorization": "Bearer pc_aaaaaaaaaaaa_" + "b" * 32})
        }
        assert len(unauthenticated) == 2, unauthenticated  # missing and wrong told apart
        ws_catalogue(server.base, world)

        common = settings(
            max_examples=EXAMPLES,
            database=None,
            deadline=None,
            derandomize=IN_CI,
            suppress_health_check=list(HealthCheck),
        )

        @common
        @given(
            body=request_bodies(world),
            head=request_heads(world),
            method=st.sampled_from(["POST", "POST", "GET"]),
        )
        def bodies_and_heads(body: bytes, head: dict[str, str], method: str) -> None:
            if method == "GET":
                params = {"query": body.decode("utf-8", "replace")[:500]}
                response = client.get("/graphql", params=params, headers=head)
            else:
                response = client.post("/graphql", content=body, headers=head)
            check_http(response, (method, head, body[:300]))

        @common
        @given(case=ws_frames(world))
        def websocket_frames(case: tuple[str, bool, list[str | bytes]]) -> None:
            protocol, authenticated, frames = case
            with _ws(server.base, protocol) as ws:
                if authenticated:
                    ws.send(
                        json.dumps(
                            {
                                "type": "connection_init",
                                "payload": {"authorization": f"Bearer {world['token']}"},
                            }
                        )
                    )
                for frame in frames:
                    try:
                        ws.send(frame)
                    except ConnectionClosed:
                        break
                messages, code = _drain(ws, 0.1)
            check_ws(messages, code, (protocol, authenticated, frames))

        bodies_and_heads()
        websocket_frames()
        assert server.alive()
        after = client.post("/graphql", json={"query": VIEWER}, headers=auth)
        assert after.json()["data"]["viewer"]["id"] == acme.owner.id
    log = log_path.read_text()
    assert "Traceback" not in log, log[-5000:]
    assert "unexpected error" not in log, log[-5000:]
