"""Signed webhooks through the API and a real HTTP receiver on 127.0.0.1 (both databases):
registration rights, the address rule, signatures, retries after failures, in order, and
the store's retry policy and retention rule."""

from __future__ import annotations

import asyncio
import random
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql.live.delivery import signature
from store import outbox, webhooks
from store.db import Database
from store.models import TeamEvent, Webhook
from store.timeutil import utcnow
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import LOG
from tests.webhook_receiver import Receiver, receiver, verify

ERRORS = "userErrors { code field message }"
HOOK = "id url kinds enabled disabledReason cursor failingSince nextAttemptAt description"
CREATE = f"""mutation($input: CreateWebhookInput!) {{ createWebhook(input: $input) {{
  replayed secret {ERRORS} webhook {{ {HOOK} }} }} }}"""
UPDATE = f"""mutation($input: UpdateWebhookInput!) {{ updateWebhook(input: $input) {{
  replayed {ERRORS} webhook {{ {HOOK} }} }} }}"""
DELETE = f"""mutation($input: DeleteWebhookInput!) {{ deleteWebhook(input: $input) {{
  replayed deletedWebhookId {ERRORS} }} }}"""
HOOKS = f"""query($team: ID!) {{ team(id: $team) {{ webhooks {{ {HOOK}
  deliveries(first: 100) {{ totalCount nodes {{ cursor kind subject subjectId attempt statusCode
  error at nextAttemptAt }} }} }} }} }}"""

FAST = {
    "webhooks_allow_private": True,
    "webhooks_poll_seconds": 0.05,
    "webhooks_timeout_seconds": 2,
    "webhooks_retry_base_seconds": 0.1,
    "webhooks_retry_max_seconds": 0.4,
    "timer_sweep_seconds": 3600,
}


async def _post(client: httpx.AsyncClient, doc: str, variables: dict[str, Any], token: str) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": doc, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def _log(client: httpx.AsyncClient, world: TeamWorld, n: int) -> str:
    data = await _post(
        client,
        LOG,
        {
            "input": {
                "teamId": world.id,
                "taskId": world.tasks["T-1"],
                "startedAt": f"2025-03-01T{n % 24:02d}:{n // 24:02d}:00Z",
                "durationSeconds": 60,
            }
        },
        world.member.token,
    )
    assert data["logTimeEntry"]["userErrors"] == []
    return str(data["logTimeEntry"]["timeEntry"]["id"])


async def _create(
    client: httpx.AsyncClient, world: TeamWorld, url: str, token: str, kinds: list[str]
) -> dict[str, Any]:
    data = await _post(
        client, CREATE, {"input": {"teamId": world.id, "url": url, "kinds": kinds}}, token
    )
    payload: dict[str, Any] = data["createWebhook"]
    return payload


async def _wait(rx: Receiver, count: int) -> list[dict[str, Any]]:
    ok = await asyncio.to_thread(rx.wait_for, count, 30)
    return [r.event for r in ok]


async def test_admins_register_webhooks_and_members_cannot(db: Database, make_client: Any) -> None:
    world = await make_team(db, "Acme", prefix="a")
    other = await make_team(db, "Other", prefix="o")
    client = await make_client(**FAST)
    url = "http://127.0.0.1:9/hook"
    made = await _create(client, world, url, world.admin.token, ["LOGGED", "CREATED"])
    assert made["userErrors"] == []
    assert made["secret"].startswith("whsec_") and len(made["secret"]) == 6 + 64
    hook = made["webhook"]
    assert hook["kinds"] == ["CREATED", "LOGGED"] and hook["enabled"] is True
    assert hook["url"] == url and hook["disabledReason"] is None

    refused = await _create(client, world, url, world.member.token, ["LOGGED"])
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("FORBIDDEN", ["input", "teamId"])
    ]
    outsider = await _create(client, world, url, other.owner.token, ["LOGGED"])
    assert [e["code"] for e in outsider["userErrors"]] == ["NOT_FOUND"]
    none = await _create(client, world, url, world.owner.token, [])
    assert [(e["code"], e["field"]) for e in none["userErrors"]] == [
        ("VALIDATION", ["input", "kinds"])
    ]

    admin_view = await _post(client, HOOKS, {"team": world.id}, world.owner.token)
    assert [h["id"] for h in admin_view["team"]["webhooks"]] == [hook["id"]]
    member_view = await _post(client, HOOKS, {"team": world.id}, world.member.token)
    assert member_view["team"]["webhooks"] == []

    changed = await _post(
        client,
        UPDATE,
        {"input": {"id": hook["id"], "kinds": ["DELETED"], "enabled": False}},
        world.admin.token,
    )
    assert changed["updateWebhook"]["webhook"]["kinds"] == ["DELETED"]
    assert changed["updateWebhook"]["webhook"]["disabledReason"] == "Disabled by an admin."
    by_member = await _post(client, DELETE, {"input": {"id": hook["id"]}}, world.member.token)
    assert [e["code"] for e in by_member["deleteWebhook"]["userErrors"]] == ["FORBIDDEN"]
    by_outsider = await _post(client, DELETE, {"input": {"id": hook["id"]}}, other.admin.token)
    assert [e["code"] for e in by_outsider["deleteWebhook"]["userErrors"]] == ["NOT_FOUND"]
    gone = await _post(client, DELETE, {"input": {"id": hook["id"]}}, world.admin.token)
    assert gone["deleteWebhook"]["deletedWebhookId"] == hook["id"]
    after = await _post(client, HOOKS, {"team": world.id}, world.owner.token)
    assert after["team"]["webhooks"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "ftp://example.com/hook",
        "not a url",
    ],
)
async def test_private_and_malformed_urls_are_refused(
    db: Database, make_client: Any, url: str
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(**{**FAST, "webhooks_allow_private": False})
    made = await _create(client, world, url, world.owner.token, ["LOGGED"])
    assert made["webhook"] is None and made["secret"] is None
    assert [(e["code"], e["field"]) for e in made["userErrors"]] == [
        ("VALIDATION", ["input", "url"])
    ]
    async with db.read() as session:
        assert await webhooks.of_team(session, team_id=world.id) == []


async def test_a_url_changed_to_a_private_address_is_refused(
    db: Database, make_client: Any
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    allowed = await make_client(**FAST)
    made = await _create(allowed, world, "http://127.0.0.1:9/x", world.owner.token, ["LOGGED"])
    strict = await make_client(
        **{**FAST, "webhooks_allow_private": False, "webhooks_deliver": False}
    )
    data = await _post(
        strict,
        UPDATE,
        {"input": {"id": made["webhook"]["id"], "url": "http://127.0.0.2/y"}},
        world.owner.token,
    )
    assert [(e["code"], e["field"]) for e in data["updateWebhook"]["userErrors"]] == [
        ("VALIDATION", ["input", "url"])
    ]
    view = await _post(strict, HOOKS, {"team": world.id}, world.owner.token)
    assert view["team"]["webhooks"][0]["url"] == "http://127.0.0.1:9/x"


async def test_deliveries_are_signed_and_survive_an_outage_in_order(
    db: Database, make_client: Any
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(**FAST)
    with receiver() as rx:
        made = await _create(client, world, rx.url, world.owner.token, ["LOGGED", "DELETED"])
        secret, hook_id = made["secret"], made["webhook"]["id"]
        first = [await _log(client, world, n) for n in range(3)]
        events = await _wait(rx, 3)
        assert [e["subjectId"] for e in events] == first
        assert {e["kind"] for e in events} == {"LOGGED"}
        for r in rx.ok():
            assert verify(secret, r.headers["Punchclock-Signature"], r.body)
            assert r.headers["Punchclock-Webhook-Id"] == hook_id
            assert not verify(secret, r.headers["Punchclock-Signature"], r.body + b" ")
            assert not verify("whsec_other", r.headers["Punchclock-Signature"], r.body)

        rx.status = 500  # the endpoint fails for a while
        during = [await _log(client, world, n) for n in range(3, 8)]
        deadline = time.monotonic() + 30
        while sum(1 for _, s in rx.answered if s == 500) < 4:  # several retries of one event
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        failed_view = await _post(client, HOOKS, {"team": world.id}, world.owner.token)
        hook = failed_view["team"]["webhooks"][0]
        assert hook["enabled"] is True and hook["failingSince"] is not None
        attempts = hook["deliveries"]["nodes"]
        failures = [d for d in attempts if d["statusCode"] == 500]
        assert len(failures) >= 4 and {d["error"] for d in failures} == {"HTTP 500"}
        assert {d["subjectId"] for d in failures} == {during[0]}  # nothing behind it went out
        assert sorted(d["attempt"] for d in failures)[:4] == [1, 2, 3, 4]
        assert all(d["nextAttemptAt"] is not None for d in failures)
        assert [d["statusCode"] for d in attempts if d["statusCode"] == 200] == [200] * 3

        rx.status = 200  # it recovers
        events = await _wait(rx, 8)
        ids = [e["subjectId"] for e in events]
        assert ids == first + during  # every event, in order, each once after a 2xx
        cursors = [e["cursor"] for e in events]
        assert len(set(cursors)) == 8
        # The receiver holds the last event as soon as it answered; the deliverer records
        # the 2xx (cursor, failingSince) in its own transaction just after.
        deadline = time.monotonic() + 10
        while True:
            recovered = await _post(client, HOOKS, {"team": world.id}, world.owner.token)
            hook = recovered["team"]["webhooks"][0]
            if hook["cursor"] == cursors[-1] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert hook["failingSince"] is None and hook["cursor"] == cursors[-1]
        for r in rx.ok():
            assert verify(secret, r.headers["Punchclock-Signature"], r.body)


async def test_an_endpoint_failing_for_the_whole_window_is_disabled(
    db: Database, make_client: Any
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    client = await make_client(**{**FAST, "webhooks_disable_after_seconds": 1.5})
    with receiver() as rx:
        rx.status = 503
        made = await _create(client, world, rx.url, world.owner.token, ["LOGGED"])
        await _log(client, world, 0)
        deadline = time.monotonic() + 30
        while True:
            view = await _post(client, HOOKS, {"team": world.id}, world.owner.token)
            hook = view["team"]["webhooks"][0]
            if not hook["enabled"]:
                break
            assert time.monotonic() < deadline, hook
            await asyncio.sleep(0.1)
        assert hook["disabledReason"].startswith("Failing since ")
        assert "HTTP 503" in hook["disabledReason"]
        tries = len(rx.received)
        await asyncio.sleep(0.5)
        assert len(rx.received) == tries  # disabled: no more attempts
        rx.status = 200
        again = await _post(
            client,
            UPDATE,
            {"input": {"id": made["webhook"]["id"], "enabled": True}},
            world.owner.token,
        )
        assert again["updateWebhook"]["webhook"]["disabledReason"] is None
        events = await _wait(rx, 1)
        assert [e["kind"] for e in events] == ["LOGGED"]


async def test_delivery_refuses_a_url_that_now_resolves_privately(
    db: Database, make_client: Any
) -> None:
    world = await make_team(db, "Acme", prefix="a")
    with receiver() as rx:
        allowing = await make_client(**{**FAST, "webhooks_deliver": False})
        await _create(allowing, world, rx.url, world.owner.token, ["LOGGED"])
        strict = await make_client(**{**FAST, "webhooks_allow_private": False})
        await _log(strict, world, 0)
        deadline = time.monotonic() + 30
        while True:
            view = await _post(strict, HOOKS, {"team": world.id}, world.owner.token)
            nodes = view["team"]["webhooks"][0]["deliveries"]["nodes"]
            if nodes:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert nodes[0]["statusCode"] is None
        assert nodes[0]["error"].startswith("refused: url's host 127.0.0.1 resolves to 127.0.0.1")
        assert rx.received == []


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = webhooks.RetryPolicy(
        base=timedelta(seconds=10), cap=timedelta(hours=1), window=timedelta(hours=24)
    )
    rng = random.Random(7)
    for attempt, step in [(1, 10), (2, 20), (3, 40), (8, 1280), (9, 2560), (10, 3600), (60, 3600)]:
        waits = [webhooks.backoff(attempt, policy, rng).total_seconds() for _ in range(200)]
        assert min(waits) >= step / 2 and max(waits) <= step
        assert max(waits) - min(waits) > step / 4  # jittered, not one value


async def test_prune_keeps_events_an_enabled_webhook_has_not_delivered(db: Database) -> None:
    world = await make_team(db, "Acme", prefix="a")
    now = utcnow()
    async with db.write() as session:
        hook = await webhooks.create(
            session, actor_id=world.owner.id, team_id=world.id, url="http://x.test/",
            kinds=["LOGGED"], description="", now=now,
        )  # fmt: skip
        await session.commit()
    async with db.write() as session:  # three old events, as if written two weeks ago
        await session.exec(  # type: ignore[call-overload]
            TeamEvent.__table__.insert(),  # type: ignore[attr-defined]
            params=[
                {"team_id": world.id, "position": p, "kind": "LOGGED", "subject": "ENTRY",
                 "subject_id": f"E{p}", "occurred_at": now - timedelta(days=14)}
                for p in (1, 2, 3)
            ],
        )  # fmt: skip
        hook_row = await session.get(Webhook, hook.id)
        assert hook_row is not None
        hook_row.cursor = 1  # delivered the first only
        await session.commit()
    async with db.write() as session:
        assert await outbox.prune(session, before=now - timedelta(days=7)) == 1
        await session.commit()
    async with db.write() as session:
        hook_row = await session.get(Webhook, hook.id)
        assert hook_row is not None
        hook_row.enabled = False  # a disabled webhook holds nothing back
        await session.commit()
    async with db.write() as session:
        assert await outbox.prune(session, before=now - timedelta(days=7)) == 2
        await session.commit()


def test_the_readme_verification_snippet_accepts_our_signature_only() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    snippet = next(b for b in blocks if "def verify(" in b)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    readme_verify = namespace["verify"]
    body = b'{"kind":"LOGGED"}'
    header = signature("whsec_abc", int(time.time()), body)
    assert header.startswith("t=") and ",v1=" in header
    assert readme_verify("whsec_abc", header, body) is True
    assert readme_verify("whsec_abc", header, body + b" ") is False
    assert readme_verify("whsec_abd", header, body) is False
    stale = signature("whsec_abc", int(time.time()) - 3600, body)
    assert readme_verify("whsec_abc", stale, body) is False
