"""Shared GraphQL documents and helpers for the mutation tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import GQL

ENTRY_FIELDS = """id scopeType startedAt stoppedAt running durationSeconds roundedSeconds
  billable rateSnapshotCents amountCents status inputType source version description workDate
  deletedAt lockedAt task { id key } category { id key } user { id }
  externalRef { provider externalType externalId }"""
ERRORS = "userErrors { code field message }"

LOG = f"""mutation($input: LogTimeEntryInput!) {{ logTimeEntry(input: $input) {{
  replayed {ERRORS} timeEntry {{ {ENTRY_FIELDS} }} }} }}"""
START = f"""mutation($input: StartTimerInput!) {{ startTimer(input: $input) {{
  replayed isNewTask {ERRORS} timeEntry {{ {ENTRY_FIELDS} }} stoppedEntry {{ {ENTRY_FIELDS} }} }} }}"""
STOP = f"""mutation($input: StopTimerInput!) {{ stopTimer(input: $input) {{
  replayed {ERRORS} timeEntry {{ {ENTRY_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateTimeEntryInput!) {{ updateTimeEntry(input: $input) {{
  replayed {ERRORS} timeEntry {{ {ENTRY_FIELDS} }} }} }}"""
DELETE = f"""mutation($input: DeleteTimeEntryInput!) {{ deleteTimeEntry(input: $input) {{
  replayed {ERRORS} timeEntry {{ {ENTRY_FIELDS} }} }} }}"""
COMMENT = f"""mutation($input: AddCommentInput!) {{ addComment(input: $input) {{
  replayed {ERRORS} comment {{ id content user {{ id }} }} timeEntry {{ id }} }} }}"""
TRANSITION = f"""mutation($input: TransitionTimeEntriesInput!) {{ transitionTimeEntries(input: $input) {{
  replayed {ERRORS} timeEntries {{ id status lockedAt version }} }} }}"""
LOCK = f"""mutation($input: LockTeamEntriesInput!) {{ lockTeamEntries(input: $input) {{
  replayed {ERRORS} team {{ id lockedBefore }} }} }}"""


async def mutate(gql: GQL, doc: str, input: dict[str, Any], token: str) -> dict[str, Any]:
    body = await gql(doc, {"input": input}, token=token)
    assert body.get("errors") is None, body["errors"]
    [payload] = body["data"].values()
    result: dict[str, Any] = payload
    return result


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


def refused(payload: dict[str, Any], code: str, field: list[str] | None = None) -> dict[str, Any]:
    assert payload["userErrors"], payload
    error: dict[str, Any] = payload["userErrors"][0]
    assert error["code"] == code, payload["userErrors"]
    if field is not None:
        assert error["field"] == field, payload["userErrors"]
    assert error["message"]
    return error
