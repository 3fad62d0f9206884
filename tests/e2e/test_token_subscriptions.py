"""Token scopes, revocation and expiry on WebSockets, against a real uvicorn (both
databases): a READ token subscribes and is refused mutations on the socket; a token
revoked through ``revokeAccessToken`` or reaching its ``expiresAt`` ends its open
subscription, no event needed; an expired token cannot connect."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select
from websockets.exceptions import ConnectionClosed

from store import tokens
from store.db import Database
from store.models import Team
from store.timeutil import utcnow
from tests.e2e.server import running_server, until_live
from tests.e2e.test_subscriptions import EVENTS, call
from tests.e2e.wsclient import GraphQLWS
from tests.factories import make_team
from tests.gql.mutation_helpers import START, STOP

pytestmark = pytest.mark.e2e

CREATE = """mutation($input: CreateAccessTokenInput!) { createAccessToken(input: $input) {
  secret accessToken { id } userErrors { code } } }"""
REVOKE = """mutation($input: RevokeAccessTokenInput!) { revokeAccessToken(input: $input) {
  accessToken { revokedAt } userErrors { code } } }"""


async def _ended(ws: GraphQLWS, within: float) -> None:
    """The subscription ends: the socket closes with 4403 (the token check of the
    connection) or the operation gets an UNAUTHENTICATED error; no event comes first."""
    deadline = time.monotonic() + within
    while True:
        try:
            message = await ws.receive(max(0.1, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403, closed
            return
        # An event delivered to the ended token fails here.
        assert message["type"] == "error" or "errors" in message.get("payload", {}), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", message
        return


async def _create(base: str, data: dict[str, Any], token: str) -> dict[str, Any]:
    result = await call(base, CREATE, data, token)
    return result


async def test_a_read_token_subscribes_and_may_not_mutate_on_the_socket(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        read = (await _create(base, {"name": "wall", "scope": "READ"}, world.owner.token))["secret"]
        ws = await GraphQLWS.open(base, read)
        assert (await ws.acked())["type"] == "connection_ack"
        await ws.subscribe(EVENTS, {"team": world.id})
        await until_live(base, 1)
        started = await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        data = await ws.next_data(timeout=15)
        assert data["timerEvents"]["kind"] == "STARTED"
        assert data["timerEvents"]["timeEntry"]["id"] == started["timeEntry"]["id"]
        # A mutation sent on the socket is refused before it runs.
        op = await ws.subscribe('mutation { createTeam(input: {name: "Evil"}) { team { id } } }')
        message = await ws.receive()
        assert message["id"] == op and message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN", message
        async with db.read() as s:
            names = [t.name for t in (await s.exec(select(Team))).all()]
        assert names == ["Acme"]
        await call(base, STOP, {}, world.member.token)
        assert (await ws.next_data(timeout=15))["timerEvents"]["kind"] == "STOPPED"
        await ws.close()


async def test_revoking_through_the_api_ends_the_open_subscription(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with running_server(database_url) as base:
        made = await _create(base, {"name": "wall"}, world.owner.token)
        ws = await GraphQLWS.open(base, made["secret"])
        await ws.acked()
        await ws.subscribe(EVENTS, {"team": world.id})
        await until_live(base, 1)
        revoked = await call(base, REVOKE, {"id": made["accessToken"]["id"]}, world.owner.token)
        assert revoked["accessToken"]["revokedAt"] is not None
        # No event needed: the connection's token check (every 5 s) ends it.
        await _ended(ws, within=15)
        await until_live(base, 0)
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.post(
                "/graphql",
                json={"query": "{ viewer { id } }"},
                headers={"authorization": f"Bearer {made['secret']}"},
            )
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expiry_ends_an_open_subscription_and_refuses_a_new_one(
    db: Database, database_url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    async with db.write() as s:
        soon = await tokens.issue(
            s, user_id=world.owner.id, name="soon", expires_at=utcnow() + timedelta(seconds=4)
        )
        await s.commit()
    with running_server(database_url) as base:
        ws = await GraphQLWS.open(base, soon.token)
        assert (await ws.acked())["type"] == "connection_ack"
        await ws.subscribe(EVENTS, {"team": world.id})
        await until_live(base, 1)
        assert soon.row.expires_at is not None
        while utcnow() <= soon.row.expires_at:
            await asyncio.sleep(0.1)
        # An event after the expiry does not reach it; the subscription ends.
        await call(
            base, START, {"teamId": world.id, "taskId": world.tasks["T-1"]}, world.member.token
        )
        await _ended(ws, within=15)
        await until_live(base, 0)
        # The expired token cannot open a new connection.
        again = await GraphQLWS.open(base, soon.token)
        with pytest.raises(ConnectionClosed) as closed:
            await again.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
