"""Which subscriptions share one execution, and under which key."""

from __future__ import annotations

from gql.live.fanout import plan_for

EVENTS = "subscription($t: ID!) { timerEvents(teamId: $t) { kind timeEntry { id } } }"
WITH_EMAIL = (
    "subscription($t: ID!) { timerEvents(teamId: $t) { kind timeEntry { user { email } } } }"
)


def test_same_document_and_variables_share_a_key_across_viewers() -> None:
    a = plan_for(EVENTS, {"t": "T1"}, None, "viewer-a")
    b = plan_for(EVENTS, {"t": "T1"}, None, "viewer-b")
    assert a is not None and b is not None
    assert a.key == b.key and a.team_id == "T1" and a.field == "timerEvents"
    other_team = plan_for(EVENTS, {"t": "T2"}, None, "viewer-a")
    assert other_team is not None and other_team.key != a.key


def test_viewer_dependent_documents_are_keyed_by_viewer() -> None:
    a = plan_for(WITH_EMAIL, {"t": "T1"}, None, "viewer-a")
    b = plan_for(WITH_EMAIL, {"t": "T1"}, None, "viewer-b")
    assert a is not None and b is not None and a.key != b.key


def test_the_viewers_own_picks_are_keyed_by_viewer() -> None:
    for selection in (
        "task { pinned }",
        'user { recentTasks(teamId: "T1") { id } }',
        'user { pinnedTasks(teamId: "T1") { id } }',
        "user { accessTokens { id } }",
        "history { action }",  # the entry's user and the team's admins only
    ):
        doc = (
            f"subscription($t: ID!) {{ timerEvents(teamId: $t) {{ timeEntry {{ {selection} }} }} }}"
        )
        a = plan_for(doc, {"t": "T1"}, None, "viewer-a")
        b = plan_for(doc, {"t": "T1"}, None, "viewer-b")
        assert a is not None and b is not None and a.key != b.key, selection


def test_literal_team_argument() -> None:
    plan = plan_for('subscription { runningTimers(teamId: "T9") { id } }', None, None, "v")
    assert plan is not None and plan.team_id == "T9" and plan.field == "runningTimers"


def test_what_is_not_shared() -> None:
    for query, variables in [
        ("{ viewer { id } }", None),  # not a subscription
        ("subscription { timerEvents(teamId: 1) { kind } }", None),  # invalid: left to Strawberry
        ("subscription($t: ID!) { timerEvents(teamId: $t) { kind } }", {"t": 5}),  # not a string
        ("subscription($t: ID!) { timerEvents(teamId: $t) @skip(if: false) { kind } }", {"t": "T"}),
        ("subscription {", None),  # syntax error
        (
            "subscription A($t: ID!) { timerEvents(teamId: $t) { kind } } "
            "subscription B($t: ID!) { runningTimers(teamId: $t) { id } }",
            {"t": "T"},
        ),  # which one?
    ]:
        assert plan_for(query, variables, None, "v") is None, query


REPORT = """subscription($f: TimeEntryFilter!, $g: [GroupBy!]!) {
  timeReportUpdates(filter: $f, groupBy: $g) { totals { totalSeconds } } }"""


def test_a_live_report_s_team_is_found_inside_its_filter() -> None:
    a = plan_for(REPORT, {"f": {"teamId": "T1"}, "g": ["USER"]}, None, "viewer-a")
    b = plan_for(REPORT, {"f": {"teamId": "T1"}, "g": ["USER"]}, None, "viewer-b")
    assert a is not None and b is not None
    assert a.field == "timeReportUpdates" and a.team_id == "T1" and a.key == b.key
    other_keys = plan_for(REPORT, {"f": {"teamId": "T1"}, "g": ["DAY"]}, None, "viewer-a")
    assert other_keys is not None and other_keys.key != a.key
    # The filter written out, with the team a literal or a variable of its own.
    literal = plan_for(
        'subscription { timeReportUpdates(filter: {teamId: "T2"}, groupBy: [DAY]) '
        "{ totals { entryCount } } }",
        None,
        None,
        "v",
    )
    assert literal is not None and literal.team_id == "T2"
    nested = plan_for(
        "subscription($t: ID!) { timeReportUpdates(filter: {teamId: $t, billable: true}, "
        "groupBy: [DAY]) { totals { entryCount } } }",
        {"t": "T3"},
        None,
        "v",
    )
    assert nested is not None and nested.team_id == "T3"
    # A report that selects what depends on the viewer is shared per viewer only.
    email = REPORT.replace("totals { totalSeconds }", "buckets { user { email } }")
    c = plan_for(email, {"f": {"teamId": "T1"}, "g": ["USER"]}, None, "viewer-a")
    d = plan_for(email, {"f": {"teamId": "T1"}, "g": ["USER"]}, None, "viewer-b")
    assert c is not None and d is not None and c.key != d.key
    assert plan_for(REPORT, {"f": {"teamId": 7}, "g": ["USER"]}, None, "v") is None
