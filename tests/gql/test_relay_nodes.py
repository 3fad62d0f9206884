"""``node(id:)`` and ``nodes(ids:)``: every entity by its id, under the typed look-ups'
tenancy; answered by the compiled path as by standard execution."""

from __future__ import annotations

from typing import Any

import httpx

from gql.server.app import create_app
from gql.settings import Settings
from store.db import Database
from store.ids import new_id
from store.models import Comment, Webhook
from tests.conftest import GQL, QUIET
from tests.factories import TeamWorld, add_entries, make_team, make_user

FIELDS = """__typename id
  ... on Team { name } ... on User { nickname } ... on Category { title }
  ... on Task { key } ... on TimeEntry { startedAt task { key } }
  ... on Comment { content timeEntry { id } } ... on Webhook { url }"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ {FIELDS} }} }}"
NODES = f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {FIELDS} }} }}"


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors") is None, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def entities(db: Database, world: TeamWorld, prefix: str) -> dict[str, str]:
    """One id of each kind of the team (the webhook's and the comment's written here)."""
    [entry] = await add_entries(
        db, team_id=world.id, user_id=world.member.id, task_id=world.tasks["T-1"], count=1
    )
    comment, webhook = new_id(), new_id()
    async with db.write() as s:
        s.add(
            Comment(
                id=comment,
                time_entry_id=entry,
                team_id=world.id,
                user_id=world.admin.id,
                content=f"{prefix} says hi",
            )
        )
        s.add(
            Webhook(
                id=webhook,
                team_id=world.id,
                url=f"https://{prefix}.example.test/hook",
                kinds="LOGGED",
                secret="s",
                cursor=0,
            )
        )
        await s.commit()
    return {
        "Team": world.id,
        "User": world.admin.id,
        "Category": world.categories["dev"],
        "Task": world.tasks["T-1"],
        "TimeEntry": entry,
        "Comment": comment,
        "Webhook": webhook,
    }


async def test_every_entity_is_a_node_of_its_own_type(db: Database, gql: GQL) -> None:
    a = await make_team(db, "Acme", prefix="a")
    ours = await entities(db, a, "a")
    expected = {
        "Team": {"name": "Acme"},
        "User": {"nickname": "a Admin"},
        "Category": {"title": "Development"},
        "Task": {"key": "T-1"},
        "TimeEntry": {"startedAt": "2025-03-10T09:00:00Z", "task": {"key": "T-1"}},
        "Comment": {"content": "a says hi", "timeEntry": {"id": ours["TimeEntry"]}},
        "Webhook": {"url": "https://a.example.test/hook"},
    }
    for kind, entity_id in ours.items():
        viewer = a.admin.token  # webhooks are for admins
        got = ok(await gql(NODE, {"id": entity_id}, token=viewer))["node"]
        assert got == {"__typename": kind, "id": entity_id, **expected[kind]}, kind
        # In either case, as every look-up.
        got = ok(await gql(NODE, {"id": entity_id.lower()}, token=viewer))["node"]
        assert got is not None and got["id"] == entity_id
    # The typed look-up and `node` agree.
    typed = ok(
        await gql(
            "query($id: ID!) { task(id: $id) { id key } node(id: $id) { ... on Task { id key } } }",
            {"id": ours["Task"]},
            token=a.member.token,
        )
    )
    assert typed["task"] == typed["node"]
    # The viewer themselves, and a teammate.
    me = ok(await gql(NODE, {"id": a.member.id}, token=a.member.token))["node"]
    assert me == {"__typename": "User", "id": a.member.id, "nickname": "a Member"}
    # A member sees no webhook (as `Team.webhooks` shows none).
    assert ok(await gql(NODE, {"id": ours["Webhook"]}, token=a.member.token))["node"] is None


async def test_another_teams_ids_unknown_and_malformed_ones_read_as_null(
    db: Database, gql: GQL
) -> None:
    a = await make_team(db, "Acme", prefix="a")
    b = await make_team(db, "Other", prefix="b")
    theirs = await entities(db, b, "b")
    outsider = await make_user(db, "Loner", "loner@example.test")  # in no team
    for kind, entity_id in theirs.items():
        for token in (a.owner.token, a.member.token):
            assert ok(await gql(NODE, {"id": entity_id}, token=token))["node"] is None, kind
        assert ok(await gql(NODE, {"id": entity_id}, token=b.owner.token))["node"] is not None
    assert ok(await gql(NODE, {"id": outsider.id}, token=a.owner.token))["node"] is None
    for nonsense in ("nope", "", "1", "01ARZ3NDEKTSV4RRFFQ69G5FAVX", str(new_id())):
        assert ok(await gql(NODE, {"id": nonsense}, token=a.owner.token))["node"] is None
    ids = [theirs["Task"], a.tasks["T-2"], "nope", theirs["Team"], a.id, a.id]
    got = ok(await gql(NODES, {"ids": ids}, token=a.member.token))["nodes"]
    assert [n and (n["__typename"], n["id"]) for n in got] == [
        None,
        ("Task", a.tasks["T-2"]),
        None,
        None,
        ("Team", a.id),
        ("Team", a.id),
    ]
    assert ok(await gql(NODES, {"ids": []}, token=a.member.token))["nodes"] == []


async def test_nodes_takes_at_most_a_hundred_ids(db: Database, gql: GQL) -> None:
    a = await make_team(db, "Acme", prefix="a")
    got = ok(await gql(NODES, {"ids": [a.id] * 100}, token=a.member.token))["nodes"]
    assert len(got) == 100 and {n["id"] for n in got} == {a.id}
    for query, variables in (
        (NODES, {"ids": [a.id] * 101}),
        ("{ nodes(ids: [" + ", ".join(['"x"'] * 101) + "]) { id } }", {}),
    ):
        body = await gql(query, variables, token=a.member.token)
        assert body.get("data") is None, body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert "at most 100 ids" in error["message"]


async def test_a_client_chosen_entry_id_equal_to_another_entitys_id(db: Database, gql: GQL) -> None:
    """The one id two rows can share: the entity the viewer may see wins, the server's
    own (the team here) before the entry; the entry stays reachable by `timeEntry`."""
    a = await make_team(db, "Acme", prefix="a")
    b = await make_team(db, "Other", prefix="b")
    log = """mutation($i: LogTimeEntryInput!) { logTimeEntry(input: $i) {
      timeEntry { id } userErrors { code } } }"""
    for team, same in ((a, b.id), (a, a.id)):
        body = await gql(
            log,
            {
                "i": {
                    "id": same,
                    "teamId": team.id,
                    "taskId": team.tasks["T-1"],
                    "minutes": 5,
                    "startedAt": "2025-03-10T08:00:00Z",
                }
            },
            token=team.member.token,
        )
        assert ok(body)["logTimeEntry"] == {"timeEntry": {"id": same}, "userErrors": []}
    # B's id: a member of A sees only the entry, a member of B only the team.
    got = ok(await gql(NODE, {"id": b.id}, token=a.member.token))["node"]
    assert (got["__typename"], got["id"]) == ("TimeEntry", b.id)
    got = ok(await gql(NODE, {"id": b.id}, token=b.member.token))["node"]
    assert (got["__typename"], got["id"]) == ("Team", b.id)
    # A's id, both visible: the team.
    got = ok(await gql(NODE, {"id": a.id}, token=a.member.token))["node"]
    assert (got["__typename"], got["id"]) == ("Team", a.id)
    entry = ok(
        await gql(
            "query($id: ID!) { timeEntry(id: $id) { id } }", {"id": a.id}, token=a.member.token
        )
    )
    assert entry["timeEntry"] == {"id": a.id}


async def test_the_compiled_path_answers_node_documents(db: Database, database_url: str) -> None:
    a = await make_team(db, "Acme", prefix="a")
    ours = await entities(db, a, "a")
    app = create_app(Settings(database_url=database_url, **QUIET))
    compiler = app.state.graphql.fast_path
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        before = compiler.answered
        r = await c.post(
            "/graphql",
            json={"query": NODES, "variables": {"ids": [*ours.values(), "nope"]}},
            headers={"authorization": f"Bearer {a.admin.token}"},
        )
        assert compiler.answered == before + 1
    got = r.json()["data"]["nodes"]
    assert [n and n["__typename"] for n in got] == [*ours, None]


async def test_nodes_take_as_many_statements_whatever_their_number(
    db: Database, database_url: str
) -> None:
    """One statement finds the kinds of all the ids, then one per kind and relation."""
    from tests.gql.test_statement_count import _count_statements

    a = await make_team(db, "Acme", prefix="a")
    ours = await entities(db, a, "a")
    entries = await add_entries(
        db, team_id=a.id, user_id=a.member.id, task_id=a.tasks["T-2"], count=60
    )
    app = create_app(Settings(database_url=database_url, **QUIET))
    compiler = app.state.graphql.fast_path
    statements = _count_statements(app, transactions=False)
    counts = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        for size in (5, 5, 60):  # the first one warms the token's cache
            ids = [*ours.values(), *entries[:size]]
            answered = compiler.answered
            statements.clear()
            r = await c.post(
                "/graphql",
                json={"query": NODES, "variables": {"ids": ids}},
                headers={"authorization": f"Bearer {a.admin.token}"},
            )
            counts.append(len(statements))
            assert compiler.answered == answered + 1
            got = r.json()["data"]["nodes"]
            assert [n["id"] for n in got] == ids
    print(f"nodes: SQL statements for 12 and 67 ids: {counts[1:]}")
    assert counts[1] == counts[2] <= 12


async def test_an_access_token_is_a_node_of_its_owner_alone(db: Database, gql: GQL) -> None:
    a = await make_team(db, "Acme", prefix="a")
    mine = ok(await gql("{ viewer { accessTokens { id name } } }", token=a.member.token))
    [token] = mine["viewer"]["accessTokens"]
    query = "query($id: ID!) { node(id: $id) { __typename id ... on AccessToken { name } } }"
    got = ok(await gql(query, {"id": token["id"]}, token=a.member.token))["node"]
    assert got == {"__typename": "AccessToken", **token}
    # Not even the team's owner sees a member's token.
    assert ok(await gql(query, {"id": token["id"]}, token=a.owner.token))["node"] is None
