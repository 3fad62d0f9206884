"""Self-service tokens and updateViewer through the API (both databases): the secret once,
the viewer's own tokens only, revocation and expiry at once, a READ token refused every
mutation on every HTTP way in (standard POST, GET, the compiled logTimeEntry, a persisted
query) with nothing changed, bad inputs coded, idempotent replays."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from gql.server.app import create_app
from gql.settings import Settings
from store import tokens
from store.db import Database
from store.models import AccessToken, IdempotencyRecord, Team, TimeEntry, User
from store.timeutil import utcnow
from tests.factories import TeamWorld, make_team
from tests.gql.mutation_helpers import ERRORS

TOKEN = "id name prefix scope createdAt expiresAt revokedAt current"
CREATE = f"""mutation($input: CreateAccessTokenInput!) {{ createAccessToken(input: $input) {{
  replayed secret {ERRORS} accessToken {{ {TOKEN} }} }} }}"""
REVOKE = f"""mutation($input: RevokeAccessTokenInput!) {{ revokeAccessToken(input: $input) {{
  replayed {ERRORS} accessToken {{ {TOKEN} }} }} }}"""
MINE = f"{{ viewer {{ id accessTokens {{ {TOKEN} }} }} }}"
VIEWER = "query { viewer { id } }"
UPDATE_VIEWER = f"""mutation($input: UpdateViewerInput!) {{ updateViewer(input: $input) {{
  replayed {ERRORS} viewer {{ id nickname timeZone locale email }} }} }}"""
LOG = """mutation($input: LogTimeEntryInput!) { logTimeEntry(input: $input) {
  replayed userErrors { code field message } timeEntry { id durationSeconds } } }"""
MODERN = "application/graphql-response+json"
SECRET = re.compile(r"pc_([A-Za-z0-9]{12})_[A-Za-z0-9]{32}")


class Api:
    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client, self.app = client, app

    async def post(
        self, doc: str, variables: dict[str, Any] | None, token: str, *, modern: bool = False
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"}
        if modern:
            headers["accept"] = MODERN
        return await self.client.post(
            "/graphql", json={"query": doc, "variables": variables or {}}, headers=headers
        )

    async def data(self, doc: str, variables: dict[str, Any] | None, token: str) -> Any:
        body = (await self.post(doc, variables, token)).json()
        assert body.get("errors") is None, body
        return body["data"]

    async def mutate(self, doc: str, input: dict[str, Any], token: str) -> dict[str, Any]:
        [payload] = (await self.data(doc, {"input": input}, token)).values()
        result: dict[str, Any] = payload
        return result

    @property
    def log_writes(self) -> int:
        return int(self.app.state.graphql.fast_path.log_writes)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    app = create_app(Settings(database_url=database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield Api(client, app)


@pytest.fixture
async def world(db: Database) -> TeamWorld:
    return await make_team(db, "Acme", prefix="a")


def _code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def _count(db: Database, model: Any, *where: Any) -> int:
    async with db.read() as s:
        return int((await s.exec(select(func.count()).select_from(model).where(*where))).one())


def _in(days: float) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


async def test_create_shows_the_secret_once_and_it_works_at_once(
    api: Api, db: Database, world: TeamWorld
) -> None:
    made = await api.mutate(
        CREATE, {"name": "ci", "expiresAt": _in(30), "scope": "WRITE"}, world.owner.token
    )
    assert made["userErrors"] == [] and made["replayed"] is False
    secret, token = made["secret"], made["accessToken"]
    match = SECRET.fullmatch(secret)
    assert match is not None, secret
    assert token["prefix"] == f"pc_{match.group(1)}"
    assert (token["name"], token["scope"], token["revokedAt"]) == ("ci", "WRITE", None)
    assert token["current"] is False  # made with the factory's token, not itself
    async with db.read() as s:
        row = await s.get(AccessToken, token["id"])
    assert row is not None and row.user_id == world.owner.id
    assert row.secret_hash == hashlib.sha256(secret.split("_")[2].encode()).hexdigest()
    # The new token works for the very next request, and knows itself as the current one.
    mine = (await api.data(MINE, None, secret))["viewer"]
    assert mine["id"] == world.owner.id
    by_id = {t["id"]: t for t in mine["accessTokens"]}
    assert by_id[token["id"]]["current"] is True
    assert [t["current"] for t in mine["accessTokens"]].count(True) == 1
    assert [t["name"] for t in mine["accessTokens"]] == ["ci", "test"]  # newest first
    # The list never carries a secret or its hash.
    listed = (await api.post(MINE, None, secret)).text
    assert secret.split("_")[2] not in listed and row.secret_hash not in listed


async def test_only_the_viewers_own_tokens_are_listed(api: Api, world: TeamWorld) -> None:
    doc = """query($team: ID!) { team(id: $team) { members { user { id
      accessTokens { id } } } } }"""
    await api.mutate(CREATE, {"name": "mine"}, world.member.token)
    members = (await api.data(doc, {"team": world.id}, world.owner.token))["team"]["members"]
    lists = {m["user"]["id"]: m["user"]["accessTokens"] for m in members}
    assert set(lists) == {world.owner.id, world.admin.id, world.member.id}
    assert len(lists[world.owner.id]) == 1  # the viewer's own: the factory's token
    assert lists[world.admin.id] == [] and lists[world.member.id] == []
    member_tokens = (await api.data(MINE, None, world.member.token))["viewer"]["accessTokens"]
    assert sorted(t["name"] for t in member_tokens) == ["mine", "test"]


async def test_a_replay_answers_the_token_without_its_secret(
    api: Api, db: Database, world: TeamWorld
) -> None:
    data = {"name": "deploy", "scope": "READ", "idempotencyKey": "k-1"}
    first = await api.mutate(CREATE, data, world.owner.token)
    again = await api.mutate(CREATE, data, world.owner.token)
    assert first["secret"] is not None and first["replayed"] is False
    assert again["secret"] is None and again["replayed"] is True
    assert again["accessToken"] == first["accessToken"]
    assert await _count(db, AccessToken, AccessToken.user_id == world.owner.id) == 2
    conflict = await api.mutate(CREATE, data | {"name": "other"}, world.owner.token)
    assert [e["code"] for e in conflict["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert conflict["secret"] is None and conflict["accessToken"] is None
    # The stored result holds the token's id, never its secret.
    async with db.read() as s:
        records = (await s.exec(select(IdempotencyRecord))).all()
    assert records and all(first["secret"] not in (r.response or "") for r in records)


async def test_bad_inputs_are_coded_and_change_nothing(
    api: Api, db: Database, world: TeamWorld
) -> None:
    owner = world.owner.id
    for data, field in [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * (tokens.MAX_NAME + 1)}, "name"),
        ({"name": "ci", "expiresAt": _in(-1 / 24)}, "expiresAt"),
        ({"name": "ci", "expiresAt": _in(tokens.MAX_LIFETIME.days + 1)}, "expiresAt"),
    ]:
        payload = await api.mutate(CREATE, data, world.owner.token)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("VALIDATION", ["input", field])
        ], data
        assert payload["secret"] is None and payload["accessToken"] is None
    assert await _count(db, AccessToken, AccessToken.user_id == owner) == 1
    # An unknown scope is the schema's refusal, before anything runs.
    body = (
        await api.post(CREATE, {"input": {"name": "x", "scope": "ADMIN"}}, world.owner.token)
    ).json()
    assert body["data"] is None and _code(body) == "BAD_USER_INPUT"
    # Up to the limit of live tokens, then refused with nothing made.
    async with db.write() as s:
        for _ in range(tokens.MAX_LIVE_TOKENS - 1):
            await tokens.issue(s, user_id=owner, name="filler")
        await s.commit()
    full = await api.mutate(CREATE, {"name": "one too many"}, world.owner.token)
    assert [e["code"] for e in full["userErrors"]] == ["VALIDATION"]
    assert full["userErrors"][0]["field"][0] == "input"
    assert await _count(db, AccessToken, AccessToken.user_id == owner) == tokens.MAX_LIVE_TOKENS


async def test_revoke_takes_effect_at_once_and_only_for_own_tokens(
    api: Api, world: TeamWorld
) -> None:
    made = await api.mutate(CREATE, {"name": "laptop"}, world.owner.token)
    secret, token_id = made["secret"], made["accessToken"]["id"]
    # Another user's token id reads as no such token, and that token goes on working.
    foreign = await api.mutate(REVOKE, {"id": token_id}, world.member.token)
    assert [(e["code"], e["field"]) for e in foreign["userErrors"]] == [
        ("NOT_FOUND", ["input", "id"])
    ]
    assert foreign["accessToken"] is None
    unknown = await api.mutate(REVOKE, {"id": "0" * 26}, world.owner.token)
    assert [e["code"] for e in unknown["userErrors"]] == ["NOT_FOUND"]
    assert (await api.data(VIEWER, None, secret))["viewer"]["id"] == world.owner.id
    # A token may revoke itself; the payload still answers, then the token is refused.
    revoked = await api.mutate(REVOKE, {"id": token_id}, secret)
    assert revoked["userErrors"] == [] and revoked["accessToken"]["revokedAt"] is not None
    assert revoked["accessToken"]["current"] is True
    refused = await api.post(VIEWER, None, secret, modern=True)
    assert refused.status_code == 401 and _code(refused.json()) == "UNAUTHENTICATED"
    # A replay answers the same revocation; revoking again changes nothing.
    other = (await api.mutate(CREATE, {"name": "ci"}, world.owner.token))["accessToken"]["id"]
    first = await api.mutate(REVOKE, {"id": other, "idempotencyKey": "r"}, world.owner.token)
    again = await api.mutate(REVOKE, {"id": other, "idempotencyKey": "r"}, world.owner.token)
    assert again["replayed"] is True and again["accessToken"] == first["accessToken"]
    twice = await api.mutate(REVOKE, {"id": other}, world.owner.token)
    assert twice["accessToken"]["revokedAt"] == first["accessToken"]["revokedAt"]


async def _introspected_mutations(api: Api, token: str) -> list[tuple[str, str]]:
    """(field, input type) of every mutation of the schema: the ones added later too."""
    doc = """{ __schema { mutationType { fields { name args { name type { kind name
      ofType { name } } } } } } }"""
    fields = (await api.data(doc, None, token))["__schema"]["mutationType"]["fields"]
    out = []
    for f in fields:
        [arg] = f["args"]
        assert arg["name"] == "input" and arg["type"]["kind"] == "NON_NULL", f
        out.append((f["name"], arg["type"]["ofType"]["name"]))
    return out


async def _state(db: Database) -> tuple[int, ...]:
    return (
        await _count(db, TimeEntry),
        await _count(db, Team),
        await _count(db, AccessToken),
        await _count(db, IdempotencyRecord),
    )


async def test_a_read_token_reads_and_is_refused_every_mutation(
    api: Api, db: Database, world: TeamWorld
) -> None:
    read = (await api.mutate(CREATE, {"name": "dashboard", "scope": "READ"}, world.owner.token))[
        "secret"
    ]
    team_doc = "query($id: ID!) { team(id: $id) { name } timeEntries(filter: {teamId: $id}) { totalCount } }"
    assert (await api.data(team_doc, {"id": world.id}, read))["team"]["name"] == "Acme"
    before = await _state(db)
    mutations = await _introspected_mutations(api, read)
    assert {"logTimeEntry", "createTeam", "createAccessToken", "updateViewer"} <= {
        name for name, _ in mutations
    }
    for name, input_type in mutations:
        # Valid to validation, whatever the input needs: the refusal comes before the
        # variables are even read.
        doc = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ __typename }} }}"
        response = await api.post(doc, None, read, modern=True)
        assert response.status_code == 403, (name, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN", name
        assert "data" not in response.json()
    # The same documents with a WRITE token get past the scope: to the variables' error.
    doc = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { __typename } }"
    assert _code((await api.post(doc, None, world.owner.token)).json()) != "FORBIDDEN"
    # Real writes, each of which would change something: refused, plain JSON too.
    log = {
        "teamId": world.id,
        "taskId": world.tasks["T-1"],
        "startedAt": "2026-03-02T09:00:00Z",
        "minutes": 30,
        "idempotencyKey": "L",
    }
    writes_before = api.log_writes
    for doc, variables in [
        (LOG, {"input": log}),
        ('mutation { createTeam(input: {name: "Evil"}) { team { id } } }', None),
        (CREATE, {"input": {"name": "escalate", "scope": "WRITE"}}),
        (UPDATE_VIEWER, {"input": {"nickname": "Renamed"}}),
    ]:
        body = (await api.post(doc, variables, read)).json()
        assert body.get("data") is None and _code(body) == "FORBIDDEN", body
    assert api.log_writes == writes_before  # the compiled path wrote nothing either
    # GET never runs a mutation (405, as the contract says), READ token or not.
    response = await api.client.get(
        "/graphql",
        params={"query": 'mutation { createTeam(input: {name: "Evil"}) { team { id } } }'},
        headers={"authorization": f"Bearer {read}"},
    )
    assert response.status_code == 405
    assert await _state(db) == before
    async with db.read() as s:
        owner = await s.get(User, world.owner.id)
    assert owner is not None and owner.nickname == "a Owner"
    # The very log with a WRITE token goes through the compiled path.
    logged = await api.mutate(LOG, log, world.owner.token)
    assert logged["userErrors"] == [] and api.log_writes == writes_before + 1


async def test_a_read_token_is_refused_a_persisted_mutation(
    api: Api, db: Database, world: TeamWorld
) -> None:
    read = (await api.mutate(CREATE, {"name": "r", "scope": "READ"}, world.owner.token))["secret"]
    doc = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }"
    digest = hashlib.sha256(doc.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    # Registered by a WRITE token's run (its input is refused: nothing made).
    registered = await api.client.post(
        "/graphql",
        json={"query": doc, "variables": {"input": {"name": " "}}, "extensions": extensions},
        headers={"authorization": f"Bearer {world.owner.token}"},
    )
    assert registered.json()["data"]["createTeam"]["team"] is None
    before = await _state(db)
    by_hash = await api.client.post(
        "/graphql",
        json={"variables": {"input": {"name": "Evil"}}, "extensions": extensions},
        headers={"authorization": f"Bearer {read}", "accept": MODERN},
    )
    assert by_hash.status_code == 403 and _code(by_hash.json()) == "FORBIDDEN"
    assert await _state(db) == before
    # The hash is known: the WRITE token runs it.
    ran = await api.client.post(
        "/graphql",
        json={"variables": {"input": {"name": "Fine"}}, "extensions": extensions},
        headers={"authorization": f"Bearer {world.owner.token}"},
    )
    assert ran.json()["data"]["createTeam"]["team"]["id"]


async def test_an_expired_token_is_refused_like_a_revoked_one(
    api: Api, db: Database, world: TeamWorld
) -> None:
    async with db.write() as s:
        gone = await tokens.issue(
            s, user_id=world.owner.id, expires_at=utcnow() - timedelta(seconds=1)
        )
        soon = await tokens.issue(
            s, user_id=world.owner.id, expires_at=utcnow() + timedelta(seconds=2)
        )
        await s.commit()
    before, writes = await _state(db), api.log_writes
    log = {
        "teamId": world.id,
        "taskId": world.tasks["T-1"],
        "startedAt": "2026-03-02T09:00:00Z",
        "minutes": 30,
    }
    for token in (gone.token,):
        post = await api.post(VIEWER, None, token, modern=True)
        assert post.status_code == 401 and _code(post.json()) == "UNAUTHENTICATED"
        get = await api.client.get(
            "/graphql", params={"query": VIEWER}, headers={"authorization": f"Bearer {token}"}
        )
        assert _code(get.json()) == "UNAUTHENTICATED"
        compiled = (await api.post(LOG, {"input": log}, token)).json()
        assert compiled.get("data") is None and _code(compiled) == "UNAUTHENTICATED"
    assert api.log_writes == writes and await _state(db) == before
    # A token is accepted up to its expiry and refused from then on.
    assert (await api.data(VIEWER, None, soon.token))["viewer"]["id"] == world.owner.id
    assert soon.row.expires_at is not None
    while utcnow() <= soon.row.expires_at:
        await asyncio.sleep(0.1)
    assert _code((await api.post(VIEWER, None, soon.token)).json()) == "UNAUTHENTICATED"
    compiled = (await api.post(LOG, {"input": log}, soon.token)).json()
    assert _code(compiled) == "UNAUTHENTICATED" and api.log_writes == writes


async def test_update_viewer_changes_only_the_sent_fields(
    api: Api, db: Database, world: TeamWorld
) -> None:
    token = world.member.token
    zone = await api.mutate(UPDATE_VIEWER, {"timeZone": "Europe/Berlin"}, token)
    assert zone["userErrors"] == []
    assert zone["viewer"] == {
        "id": world.member.id,
        "nickname": "a Member",
        "timeZone": "Europe/Berlin",
        "locale": "en",
        "email": world.member.email,
    }
    both = await api.mutate(
        UPDATE_VIEWER, {"nickname": "  Mia  ", "locale": "de-CH", "idempotencyKey": "v"}, token
    )
    assert (both["viewer"]["nickname"], both["viewer"]["locale"]) == ("Mia", "de-CH")
    assert both["viewer"]["timeZone"] == "Europe/Berlin"
    again = await api.mutate(
        UPDATE_VIEWER, {"nickname": "  Mia  ", "locale": "de-CH", "idempotencyKey": "v"}, token
    )
    assert again["replayed"] is True and again["viewer"] == both["viewer"]
    async with db.read() as s:
        row = await s.get(User, world.member.id)
    assert row is not None
    assert (row.nickname, row.locale, row.time_zone) == ("Mia", "de-CH", "Europe/Berlin")
    me = (await api.data("{ viewer { nickname locale timeZone } }", None, token))["viewer"]
    assert me == {"nickname": "Mia", "locale": "de-CH", "timeZone": "Europe/Berlin"}


async def test_update_viewer_bad_inputs_are_coded_and_change_nothing(
    api: Api, db: Database, world: TeamWorld
) -> None:
    token = world.member.token
    for data, field in [
        ({"timeZone": "Mars/Olympus_Mons"}, "timeZone"),
        ({"timeZone": "Europe/../Berlin"}, "timeZone"),
        ({"timeZone": None}, "timeZone"),
        ({"locale": "e"}, "locale"),
        ({"locale": "en_US"}, "locale"),
        ({"locale": "en-" + "a" * 40}, "locale"),
        ({"nickname": "   "}, "nickname"),
        ({"nickname": "n" * 201}, "nickname"),
        ({"nickname": None}, "nickname"),
        ({"nickname": "Ok", "locale": "bad locale"}, "locale"),
    ]:
        payload = await api.mutate(UPDATE_VIEWER, data, token)
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("VALIDATION", ["input", field])
        ], data
        assert payload["viewer"] is None
    async with db.read() as s:
        row = await s.get(User, world.member.id)
    assert row is not None
    assert (row.nickname, row.locale, row.time_zone) == ("a Member", "en", "UTC")


@pytest.fixture
def python_only_zone(tmp_path: Path) -> Iterator[str]:
    """A time zone Python's zoneinfo knows (a copy of a real zone file, on a search path
    of its own) and PostgreSQL does not."""
    name = "Punchclock/Nowhere"
    source = zoneinfo.TZPATH[0] if zoneinfo.TZPATH else None
    if source is None or not Path(source, "Europe/Berlin").exists():
        pytest.skip("no system zone files to copy")
    target = tmp_path / "zones"
    (target / "Punchclock").mkdir(parents=True)
    shutil.copyfile(Path(source, "Europe/Berlin"), target / name)
    zoneinfo.reset_tzpath([str(target), *zoneinfo.TZPATH])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        yield name
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()


async def test_a_zone_python_knows_and_postgresql_does_not_is_refused_there(
    api: Api, world: TeamWorld, dialect: str, python_only_zone: str
) -> None:
    zoneinfo.ZoneInfo(python_only_zone)  # Python knows it
    payload = await api.mutate(UPDATE_VIEWER, {"timeZone": python_only_zone}, world.member.token)
    team = await api.mutate(
        "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { "
        + ERRORS
        + " team { timeZone } } }",
        {"id": world.id, "timeZone": python_only_zone},
        world.owner.token,
    )
    if dialect == "postgresql":  # converts with its own zone database: a coded refusal
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("VALIDATION", ["input", "timeZone"])
        ]
        assert [(e["code"], e["field"]) for e in team["userErrors"]] == [
            ("VALIDATION", ["input", "timeZone"])
        ]
    else:  # SQLite's dates are Python's: the zone works
        assert payload["userErrors"] == [] and payload["viewer"]["timeZone"] == python_only_zone
        assert team["userErrors"] == [] and team["team"]["timeZone"] == python_only_zone


async def test_concurrent_creates_never_pass_the_limit(
    api: Api, db: Database, world: TeamWorld
) -> None:
    """Creates race for the last places (real concurrency on PostgreSQL: the user row is
    locked before the count): exactly as many succeed as there are places."""
    owner = world.owner.id
    places = 3
    async with db.write() as s:
        for _ in range(tokens.MAX_LIVE_TOKENS - 1 - places):  # the factory's token is live
            await tokens.issue(s, user_id=owner, name="filler")
        await s.commit()
    payloads = await asyncio.gather(
        *(api.mutate(CREATE, {"name": f"race {i}"}, world.owner.token) for i in range(10))
    )
    made = [p for p in payloads if p["userErrors"] == []]
    assert len(made) == places and all(p["secret"] for p in made)
    assert {e["code"] for p in payloads if p["userErrors"] for e in p["userErrors"]} == {
        "VALIDATION"
    }
    assert await _count(db, AccessToken, AccessToken.user_id == owner) == tokens.MAX_LIVE_TOKENS
