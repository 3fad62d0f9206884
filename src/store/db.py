"""Engine and session factory from a database URL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

import store.history  # noqa: F401  (registers the change-history listener on every Session)

SQLITE_BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")


def async_url(url: str) -> str:
    """Map plain ``postgresql://`` / ``postgres://`` / ``sqlite://`` URLs to the async drivers."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver in ("postgresql", "postgres", "postgresql+asyncpg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif driver in ("sqlite", "sqlite+aiosqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    else:
        raise ValueError(
            f"unsupported database URL scheme {driver!r}: use postgresql:// or sqlite://"
        )
    return parsed.render_as_string(hide_password=False)


def session_dialect(session: AsyncSession) -> str:
    """``"postgresql"`` or ``"sqlite"``: the dialect a session's statements are for."""
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def conflict_insert(dialect: str) -> Any:
    """The dialect's ``insert`` construct, the one with ``ON CONFLICT`` clauses."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _replace_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")  # the pool reconnects


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; foreign keys are off by default in SQLite;
    # the busy timeout makes concurrent writers wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # The local day/week/month of an instant, for reports (SQLite has no time zones).
    from store.reports import register_sqlite_functions

    register_sqlite_functions(dbapi_connection)
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers
    # it and cannot take the write lock up front).
    dbapi_connection.isolation_level = None


# An execution option: a connection that runs one statement needs no transaction.
SINGLE_STATEMENT = "punchclock_single_statement"


def _sqlite_begin_deferred(conn: Any) -> None:
    if conn.get_execution_options().get(SINGLE_STATEMENT):
        return
    conn.exec_driver_sql("BEGIN")


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock when a transaction starts, not at its first write: a
    # read-then-write transaction that upgrades later can fail with "database is locked"
    # without waiting for the busy timeout.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# How long a request waits for a pooled PostgreSQL connection before it is answered
# UNAVAILABLE (the pool has no overflow: see create_engine).
DEFAULT_POOL_TIMEOUT_SECONDS = 10.0


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    immediate: bool = False,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """An async engine for ``url``. On SQLite, ``immediate`` makes every transaction
    take the write lock when it begins (for the writer engine). On PostgreSQL a checkout
    waits up to ``pool_timeout`` seconds for a free connection (then
    ``sqlalchemy.exc.TimeoutError``: the database is saturated)."""
    full = async_url(url)
    if not is_sqlite(full):
        # No pool_pre_ping: on asyncpg it is three round trips per checkout (BEGIN, a
        # query, ROLLBACK, for pgbouncer's sake), on every request. A connection the server
        # closed (a restart, a crash, an idle timeout) is closed on the driver's side too,
        # and is replaced at checkout without asking the server; one that fails in use is
        # invalidated (SQLAlchemy's disconnect handling, and driver_connection below).
        # No overflow: an overflow connection is closed as soon as it comes back to a full
        # pool, so a load just above the pool size opened and closed a connection (a TCP
        # and TLS handshake, a server process) per request: under 16 concurrent
        # logTimeEntry on a pool of 10 that churn halved the throughput. Requests beyond
        # the pool wait for a connection instead, as the driver's own pool does.
        engine = create_async_engine(
            full, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout
        )
        event.listen(engine.sync_engine.pool, "checkout", _replace_closed)
        return engine
    # No reset when a connection goes back to the pool: its Connection has already rolled
    # back (or committed) on close, and on aiosqlite the second ROLLBACK is one more thread
    # hand-off per session. Twice the pool size is kept: an overflow connection is closed
    # when it comes back, and opening an aiosqlite connection (a thread, the pragmas, the
    # report functions) costs more than many reads; at SQLAlchemy's default of 5, 16
    # concurrent requests opened and closed one per request.
    engine = create_async_engine(
        full,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_reset_on_return=None,
        pool_size=2 * pool_size,
        max_overflow=pool_size,
    )
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "connect", _sqlite_connect)
    event.listen(
        sync_engine, "begin", _sqlite_begin_immediate if immediate else _sqlite_begin_deferred
    )
    return engine


SessionFactory = async_sessionmaker[AsyncSession]


class WriteGate:
    """Who writes to SQLite in this process, and when.

    SQLite has one writer at a time. Left to SQLite, concurrent writers of one process
    wait in its busy handler, which sleeps (1, 2, 5, 10... ms) and retries: under 16
    concurrent mutations that was most of the time. Queued here instead, each starts the
    moment the way is clear. Write sessions hold the gate alone (``exclusive``). Jobs on
    the writer thread (``Database.run_on_writer``) hold it together: that one thread runs
    them one after another anyway, so they only keep out of the sessions' way, and one
    job's hand-back to the event loop does not hold up the next. First come, first served:
    a job arriving after a waiting session waits behind it. Other processes still meet the
    busy handler.
    """

    def __init__(self) -> None:
        self._shared = 0
        self._exclusive = False
        self._waiters: deque[tuple[bool, asyncio.Future[None]]] = deque()

    def _free(self, exclusive: bool) -> bool:
        return not self._exclusive and (not exclusive or self._shared == 0)

    def _take(self, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = True
        else:
            self._shared += 1

    async def acquire(self, *, exclusive: bool) -> None:
        if not self._waiters and self._free(exclusive):
            self._take(exclusive)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((exclusive, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(exclusive=exclusive)  # granted, then cancelled: hand it on
            else:
                self._wake()
            raise

    def release(self, *, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = False
        else:
            self._shared -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            exclusive, waiter = self._waiters[0]
            if waiter.done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            if not self._free(exclusive):
                return
            self._waiters.popleft()
            self._take(exclusive)
            waiter.set_result(None)


class _SerialWriteSession(AsyncSession):
    """A SQLite write session that holds its process's ``WriteGate`` alone while it is
    open. Used as ``async with db.write() as session``; never nest two."""

    async def __aenter__(self) -> _SerialWriteSession:
        gate: WriteGate = self.info["write_gate"]
        await gate.acquire(exclusive=True)
        self.info["write_gate_held"] = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await super().__aexit__(*exc)
        finally:
            if self.info.pop("write_gate_held", False):
                self.info["write_gate"].release(exclusive=True)


class Database:
    """The engines and session factories of one database.

    ``read`` sessions are for queries. ``write`` sessions are for commands: on SQLite they
    begin with ``BEGIN IMMEDIATE`` so a read-then-write transaction waits for the lock
    (busy timeout) instead of failing when it upgrades; on PostgreSQL both are the same.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
    ) -> None:
        self.url = async_url(url)
        self.dialect = "sqlite" if is_sqlite(self.url) else "postgresql"
        self.engine = create_engine(self.url, pool_size=pool_size, pool_timeout=pool_timeout)
        self.write_engine = (
            create_engine(self.url, immediate=True) if self.dialect == "sqlite" else self.engine
        )
        self.read = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.write: SessionFactory
        # SQLite: the process's writers queue here (write sessions and run_on_writer alike).
        self.write_gate = WriteGate()
        self._writer: sqlite3.Connection | None = None
        path = make_url(self.url).database
        # Whether run_on_writer can run here: SQLite in a file (not in memory).
        self.has_sqlite_writer = self.dialect == "sqlite" and path not in (None, "", ":memory:")
        self._writer_path = str(path)
        self._writer_thread: ThreadPoolExecutor | None = None
        if self.dialect == "sqlite":
            self.write = cast(
                SessionFactory,
                async_sessionmaker(
                    self.write_engine,
                    class_=_SerialWriteSession,
                    expire_on_commit=False,
                    info={"write_gate": self.write_gate},
                ),
            )
        else:
            self.write = async_sessionmaker(
                self.write_engine, class_=AsyncSession, expire_on_commit=False
            )

    @contextlib.asynccontextmanager
    async def read_statement(self) -> AsyncIterator[AsyncSession]:
        """A session for reads that are each one statement (each sees its own snapshot):
        no BEGIN and no ROLLBACK around it, which on a page read is two of three round
        trips to PostgreSQL and most of aiosqlite's thread hand-offs."""
        async with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                await connection.execution_options(**{SINGLE_STATEMENT: True})
            else:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=connection, expire_on_commit=False) as session:
                yield session

    @contextlib.asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """A pooled connection's own driver connection (aiosqlite or asyncpg), outside any
        transaction, for a single read that runs on the driver (see store.entry_pages).
        No Session, no Connection: their set-up cost more than the read."""
        raw = await self.engine.raw_connection()
        driver: Any = raw.driver_connection
        try:
            yield driver
        except BaseException:
            if self.dialect == "postgresql" and driver.is_closed():
                await greenlet_spawn(raw.invalidate)  # lost in use: never back in the pool
            raise
        finally:
            await greenlet_spawn(raw.close)

    async def run_on_writer(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """SQLite: run ``work`` on this process's own writer connection, in its own thread,
        holding the write gate beside other jobs, never beside a write session.

        ``work`` is plain synchronous sqlite3: a whole transaction in one hand-off to a
        thread, where aiosqlite takes one per statement (each costs more than a SQLite
        statement). The connection is set up as the pool's are (WAL, foreign keys, busy
        timeout, the report functions) and is in autocommit mode: ``work`` issues BEGIN
        IMMEDIATE and COMMIT or ROLLBACK itself. Jobs run one at a time, in order, and
        never beside a write session of this process (``WriteGate``)."""
        if not self.has_sqlite_writer:
            raise RuntimeError("run_on_writer needs a SQLite database file")
        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(1, "punchclock-sqlite-writer")
        thread = self._writer_thread
        await self.write_gate.acquire(exclusive=False)
        job = asyncio.get_running_loop().run_in_executor(thread, self._on_writer, work)
        job.add_done_callback(lambda _: self.write_gate.release(exclusive=False))
        # Cancelled, the caller stops waiting; the job still ends its transaction before
        # the gate lets a write session in.
        return await asyncio.shield(job)

    def _on_writer(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            connection = sqlite3.connect(
                self._writer_path,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            _sqlite_connect(connection, None)
            self._writer = connection
        return work(self._writer)

    async def dispose(self) -> None:
        if self._writer_thread is not None:
            thread, self._writer_thread = self._writer_thread, None
            await asyncio.get_running_loop().run_in_executor(thread, self._close_writer)
            thread.shutdown(wait=True)
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
