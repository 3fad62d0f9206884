"""GraphiQL, served by Punchclock itself: no file comes from another host.

GraphiQL 3 and the React 18 it runs on are vendored in ``static/graphiql`` exactly as
npm publishes them, with their licences, the registry's integrity of each package
(``VERSIONS``) and ``SHA256SUMS`` (``scripts/vendor-graphiql.sh`` makes them; a test
checks them). No Python package ships GraphiQL's files and is kept up (Strawberry's own
page loads them from a CDN), hence the vendored copy.

The page adds a token field (kept in ``sessionStorage``: for this browser tab, gone when
it closes) and opens on an example query of the demo team, when the database has one.
It is sent with a Content-Security-Policy that allows this server alone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from starlette.responses import HTMLResponse

from store import demo
from store.db import Database

log = logging.getLogger("punchclock")

STATIC = Path(__file__).parents[1] / "static"
PAGE = (STATIC / "graphiql.html").read_text()
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
EXAMPLE_QUERY = """\
# Punchclock's API. Paste a token above (from `punchclock serve --demo`), then run an
# operation with Ctrl-Enter or the ▶ button; the Docs button lists every type and field.

query Team($teamId: ID!) {
  viewer { nickname timeZone }
  team(id: $teamId) {
    name
    runningEntries { user { nickname } task { title } startedAt durationSeconds }
    timeEntries(filter: { teamId: $teamId }, first: 5) {
      totalCount
      nodes { startedAt formattedDuration amountCents user { nickname } task { title } }
    }
  }
}

# Live: started and stopped timers of the team, as they happen.
subscription Timers($teamId: ID!) {
  timerEvents(teamId: $teamId) { kind occurredAt timeEntry { user { nickname } task { title } } }
}
"""


async def example_team_id(db: Database) -> str:
    try:
        async with db.read() as session:
            return await demo.demo_team_id(session) or ""
    except Exception as exc:  # the page still works without its example team
        log.warning("no example team for GraphiQL: %r", exc)
        return ""


async def page(db: Database, path: str) -> HTMLResponse:
    config = {
        "path": path,
        "query": EXAMPLE_QUERY,
        "variables": json.dumps({"teamId": await example_team_id(db)}, indent=2),
    }
    # JSON inside <script>: "<" escaped, so no "</script>" can end it early.
    embedded = json.dumps(config).replace("<", "\\u003c")
    return HTMLResponse(
        PAGE.replace("__PUNCHCLOCK_CONFIG__", embedded),
        headers={"content-security-policy": CONTENT_SECURITY_POLICY},
    )
