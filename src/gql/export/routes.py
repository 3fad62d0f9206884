"""``GET /export/time-entries.csv`` and ``GET /export/report.csv``.

The same token, tenancy, filters and rules as ``timeEntries`` and ``timeReport``: the
token is checked by the server's own ``authenticate``, the parameters become the
resolvers' own arguments (``gql.export.params``), the filter goes through the same
``store_filter`` and the report through the same ``compute_report``. A team the viewer
is not in reads as a team without entries: the CSV has its header (and, for the report,
a totals row of zeros), exactly as ``timeEntries`` answers an empty connection.

Refusals are GraphQL-style JSON errors with ``extensions.code`` and the HTTP status for
it: 401 ``UNAUTHENTICATED``, 400 ``BAD_REQUEST`` / ``BAD_USER_INPUT`` / ``VALIDATION``,
429 ``RATE_LIMITED``, 503 ``UNAVAILABLE`` (the error boundary's, before the first byte).

The entries are streamed: ``store.entry_export`` reads them from a server-side cursor a
batch at a time, and each batch is written through ``csv`` and sent before the next is
fetched, so the server's memory does not grow with the export (bench/export_bench.py:
a million rows). The statement runs before the answer starts, so a failure to run it
is still an error answer; a failure after that can only cut the transfer short (the
chunked body then never ends properly, which HTTP clients report).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gql.export import columns
from gql.export.params import BadParameters, Parameters
from gql.guard.admission import client_key, rate_limited, refuse_anonymous
from gql.guard.limits import MUTATION_POINTS
from gql.schema.context import Context
from gql.schema.errors import CodedError, TopLevelCode
from gql.schema.filters import TimeEntryFilter, entity_id, store_filter
from gql.schema.loaders import Loaders
from gql.schema.types.report import compute_report, load_related
from gql.server import logs
from gql.server.auth import authenticate, bearer_token
from gql.server.boundary import error_body, media_type, request_id_of
from gql.server.services import Services
from gql.server.view import INVALID_TOKEN, MISSING_TOKEN
from store.entry_export import stream_entries

log = logging.getLogger("punchclock.export")

ENTRIES_PATH: Final = "/export/time-entries.csv"
REPORT_PATH: Final = "/export/report.csv"
OPTIONS: Final = frozenset({"excel", "format"})
# What an export costs of the client's rate limit: a fixed price, as its size is not known
# until it has run; that of a mutation.
EXPORT_POINTS: Final = MUTATION_POINTS
BUSY_RETRY_SECONDS: Final = 5
CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8; header=present"
BOM: Final = "\ufeff"

_STATUS: Final = {
    TopLevelCode.UNAUTHENTICATED: 401,
    TopLevelCode.RATE_LIMITED: 429,
    TopLevelCode.BAD_REQUEST: 400,
    TopLevelCode.BAD_USER_INPUT: 400,
    TopLevelCode.VALIDATION: 400,
    TopLevelCode.QUERY_TOO_COMPLEX: 400,
}


class Refused(Exception):
    """An export refused before its first byte: answered as JSON with ``code``."""

    def __init__(self, code: TopLevelCode, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}


def _error(request: Request, refused: Refused) -> Response:
    content_type = media_type(request.scope)
    body = error_body(
        refused.code,
        refused.message,
        request_id_of(request.scope),
        modern=content_type != b"application/json",
    )
    return Response(
        body,
        status_code=_STATUS.get(refused.code, 400),
        headers=refused.headers,
        media_type=content_type.decode(),
    )


class CsvResponse(StreamingResponse):
    """A streamed CSV that stops between two batches when the client goes away.

    Hand-written ``__call__``: Starlette's StreamingResponse (under uvicorn's ASGI 2.3)
    cancels the body the moment the client disconnects, which lands in the middle of a
    cursor fetch; SQLAlchemy then invalidates the connection and logs an ERROR with a
    traceback per abandoned export. Here a listener only notes the disconnect, the body
    is asked for no further batch, and ``close`` (the cursor's) runs however the answer
    ends, handing the connection back to the pool at once."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        filename: str,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            body,
            media_type=CSV_MEDIA_TYPE,
            headers={
                "content-disposition": f'attachment; filename="{filename}"',
                "cache-control": "no-store",
            },
        )
        self._body = body
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":  # the headers alone: nothing to read for them
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if self._close is not None:
                await self._close()
            return
        gone = asyncio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        listener = asyncio.create_task(listen())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async for chunk in self._body:
                if gone.is_set():
                    log.info("export abandoned by the client")
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.cancel()
            aclose = getattr(self._body, "aclose", None)
            if aclose is not None:
                await aclose()
            if self._close is not None:
                await self._close()


class CsvWriter:
    """Rows to UTF-8 bytes through ``csv`` (RFC 4180 quoting, CRLF); for Excel with a
    byte order mark, ``;`` between cells and formulas guarded."""

    def __init__(self, header: Sequence[str], *, excel: bool) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(
            self._buffer, delimiter=";" if excel else ",", lineterminator="\r\n"
        )
        self._guard = columns.guarded_rows(header) if excel else None
        self._start = BOM if excel else ""
        self.header = list(header)

    def chunk(self, rows: Sequence[list[str]]) -> bytes:
        guard = self._guard
        self._writer.writerows([guard(r) for r in rows] if guard else rows)
        text = self._start + self._buffer.getvalue()
        self._start = ""
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


class Exports:
    """The two endpoints, on one server's services."""

    def __init__(self, services: Services) -> None:
        self.services = services
        schema = services.schema
        # Each streaming export holds a pooled connection until it ends: at most this many
        # at once, so that exports never take the pool from the API.
        self._streams = asyncio.Semaphore(services.settings.export_max_streams)
        self.entries_parameters = Parameters(schema, "time_entries", OPTIONS)
        self.report_parameters = Parameters(schema, "time_report", OPTIONS)

    def routes(self) -> list[Route]:
        return [
            Route(ENTRIES_PATH, self.time_entries, methods=["GET"]),
            Route(REPORT_PATH, self.report, methods=["GET"]),
        ]

    async def _context(self, request: Request) -> Context:
        """The viewer of the request's token, charged the export's points; else Refused."""
        services = self.services
        token = bearer_token(request.headers.get("authorization"))
        viewer = await authenticate(services.db, token)
        if viewer is None:
            limited = refuse_anonymous(services, request)
            if limited is not None:
                raise _rate_limited(limited.message, limited.extensions)
            raise Refused(
                TopLevelCode.UNAUTHENTICATED, MISSING_TOKEN if token is None else INVALID_TOKEN
            )
        user, memberships = viewer
        ctx = Context(
            db=services.db,
            viewer=user,
            memberships=memberships,
            loaders=Loaders(services.db),
            request_id=logs.current_request_id() or "",
            services=services,
            request=request,
            token=token,
        )
        limiter = services.rate_limiter
        if limiter is not None:
            verdict = limiter.charge(client_key(ctx), EXPORT_POINTS)
            if not verdict.allowed:
                error = rate_limited(EXPORT_POINTS, verdict)
                raise _rate_limited(error.message, error.extensions)
        return ctx

    async def time_entries(self, request: Request) -> Response:
        try:
            ctx = await self._context(request)
            arguments = _read(self.entries_parameters, request)
            excel = _excel(request)
            f: TimeEntryFilter = arguments["filter"]
            team_id = entity_id(f.team_id)
            team_ids = [team_id] if ctx.is_member(team_id) else []
            ef = await _coded(store_filter(ctx, f, team_ids=team_ids))
        except Refused as refused:
            return _error(request, refused)
        team = await ctx.loaders.team.load(team_id) if team_ids else None
        name = columns.file_name(team.name if team else None, "time-entries", f.from_, f.to)
        writer = CsvWriter(columns.ENTRY_HEADER, excel=excel)
        now = ctx.now
        if ef is None:  # nothing can match: a team not the viewer's, a foreign category
            return CsvResponse(_once(writer.chunk([writer.header])), name)
        if self._streams.locked():
            return _error(request, _busy())
        await self._streams.acquire()
        batches = stream_entries(
            self.services.db, filter=ef, batch_size=self.services.settings.export_batch_rows
        )

        async def close() -> None:
            try:
                await batches.aclose()
            finally:
                self._streams.release()

        try:
            # The statement runs here, before the answer starts: a failure is an error answer.
            first = await anext(batches, None)
        except BaseException:
            await close()
            raise

        async def body() -> AsyncIterator[bytes]:
            rows = [writer.header, *(columns.entry_row(r, now) for r in first or ())]
            yield writer.chunk(rows)
            async for batch in batches:
                yield writer.chunk([columns.entry_row(r, now) for r in batch])

        return CsvResponse(body(), name, close=close)

    async def report(self, request: Request) -> Response:
        try:
            ctx = await self._context(request)
            arguments = _read(self.report_parameters, request)
            excel = _excel(request)
            f: TimeEntryFilter = arguments["filter"]
            team_id = entity_id(f.team_id)
            computed = await _coded(
                compute_report(
                    ctx,
                    filter=f,
                    group_by=arguments["group_by"],
                    time_zone=arguments.get("time_zone"),
                    week_start=arguments.get("week_start"),
                )
            )
        except Refused as refused:
            return _error(request, refused)
        rows = computed.rows
        related = await load_related(ctx, rows)
        names: columns.Names = {
            "users": {k: v.row for k, v in related.users.items()},
            "teams": {k: v.row for k, v in related.teams.items()},
            "tasks": {k: v.row for k, v in related.tasks.items()},
            "categories": {k: v.row for k, v in related.categories.items()},
            "tags": {k: v.row for k, v in related.tags.items()},
        }
        header = columns.report_header(rows.group_by)
        writer = CsvWriter(header, excel=excel)
        lines = [header]
        lines += [columns.report_row(b, rows.group_by, names) for b in rows.buckets]
        lines.append(columns.totals_row(rows.totals, rows.group_by))
        team = await ctx.loaders.team.load(team_id) if ctx.is_member(team_id) else None
        name = columns.file_name(team.name if team else None, "report", f.from_, f.to)
        return CsvResponse(_once(writer.chunk(lines)), name)


def _busy() -> Refused:
    return Refused(
        TopLevelCode.RATE_LIMITED,
        "Too many exports are running on this server; retry in a few seconds.",
        {"retry-after": str(BUSY_RETRY_SECONDS)},
    )


def _rate_limited(message: str, extensions: dict[str, Any] | None) -> Refused:
    retry = (extensions or {}).get("retryAfter", 1)
    return Refused(TopLevelCode.RATE_LIMITED, message, {"retry-after": str(retry)})


def _read(parameters: Parameters, request: Request) -> dict[str, Any]:
    query = request.query_params
    try:
        return parameters.read({name: query.getlist(name) for name in query})
    except BadParameters as exc:
        raise Refused(exc.code, exc.message) from exc


def _excel(request: Request) -> bool:
    """``excel=true`` or ``format=excel`` (``format=csv`` and ``excel=false``: plain)."""
    query = request.query_params
    excel = query.get("excel", "false").lower()
    form = query.get("format", "csv").lower()
    if excel not in ("true", "false", "") or form not in ("csv", "excel", ""):
        raise Refused(
            TopLevelCode.BAD_USER_INPUT,
            "Parameter `excel` is `true` or `false`; `format` is `csv` or `excel`.",
        )
    return excel == "true" or form == "excel"


async def _coded(work: Any) -> Any:
    """``work`` awaited; a coded refusal of the resolvers' (VALIDATION of a list over 100
    ids, of a report's keys, zone or week start) as Refused."""
    try:
        return await work
    except CodedError as exc:
        raise Refused(exc.code, exc.message) from exc


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content
