"""The database: engine, URL handling, and one way to read and to write.

Writes use group commit. `write()` hands out a savepoint inside a database
transaction shared by every writer that arrives while the previous commit is
in progress; the transaction commits once for all of them, and each
`write()` returns only after that commit. So a message is still answered only
once it is durable, but a thousand messages cost one fsync instead of a
thousand. A writer whose block fails rolls back its own savepoint only.

SQLite (the default, `./volta.db`) runs in WAL mode with `synchronous=FULL`,
so a commit that returned is on disk, and it runs in the event loop's own
thread: a statement takes microseconds, while aiosqlite's hop to its worker
thread and back cost ~60 us per call (4-5 ms per stored MeterValues,
measured). The single writer connection suits SQLite's single-writer design;
its transactions start with BEGIN IMMEDIATE. PostgreSQL (asyncpg) gets the
same batching on one writer connection; reads use the pool.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from volta import metrics
from volta.store.raw import RawStatement, pg_time, sqlite_time

# (statement, rows): what one message writes on the hot path.
RawOps = list[tuple[RawStatement, list[tuple[Any, ...]]]]

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///./volta.db"
PG_LANES = 2  # group commits in parallel on PostgreSQL (see Database.__init__)


class Conn(Protocol):
    """What services may do with a connection from `Database.read()` / `write()`."""

    async def execute(self, statement: Any, parameters: Any = None) -> Any: ...


def async_url(url: str) -> str:
    """Accept plain `sqlite:///PATH` and `postgresql://...` and pick the async driver."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ValueError(
        f"unsupported database URL {redact(url)!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database url>"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy emits BEGIN itself (see _sqlite_begin), so that savepoints
    # nest inside one transaction; pysqlite's own implicit BEGIN would not.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # How long a write waits for another process's lock (the CLI's writes take
    # milliseconds). SQLite runs in the event loop, so this is also how long
    # every station waits when the lock is held for good: kept short. First,
    # so that switching to WAL below waits for a concurrent first user too.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _private_connect(dbapi_connection: Any, record: Any) -> None:
    # Created with umask 077, so the database, its -wal and -shm are the
    # owner's only from their first byte (they hold webhook secrets and
    # password hashes); `Database.remember_file` chmods files made before.
    old = os.umask(0o077)
    try:
        _sqlite_connect(dbapi_connection, record)
    finally:
        os.umask(old)


def _sqlite_begin(conn: sa.Connection) -> None:
    # The writer takes the write lock up front: a deferred transaction that
    # must upgrade later fails at once with SQLITE_BUSY when another process
    # (the CLI) writes at the same time.
    # An execution option of this Connection, not `conn.info`: that belongs to
    # the pooled DBAPI connection and would outlive the writer (seen: after a
    # failed commit the writer's connection went back to the pool and readers
    # then waited on the write lock).
    writer = conn.get_execution_options().get("volta_writer")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


class _InlineConnection:
    """A synchronous SQLite connection behind the async interface services use.

    Statements run in the event loop's thread (microseconds each), but the
    writer's COMMIT, which waits for fsync (synchronous=FULL: 1-3 ms on this
    machine's disk, measured), runs in a worker thread: the loop goes on
    reading, validating and answering what needs no commit meanwhile, and the
    next batch gathers. Nothing else uses the connection while it commits:
    the group commit awaits it before it hands the connection out again."""

    def __init__(self, conn: sa.Connection, *, commit_in_thread: bool = False) -> None:
        self.sync = conn
        self._commit_in_thread = commit_in_thread
        self._committing: asyncio.Future[None] | None = None

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        if parameters is None:
            return self.sync.execute(statement)
        return self.sync.execute(statement, parameters)

    async def begin(self) -> None:
        self.sync.begin()

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        if parameters is None:
            return self.sync.exec_driver_sql(statement)
        return self.sync.exec_driver_sql(statement, parameters)

    async def commit(self) -> None:
        if self._commit_in_thread:
            # Shielded: a cancelled caller (shutdown) must not leave the
            # thread committing while the connection is rolled back or closed.
            self._committing = asyncio.ensure_future(asyncio.to_thread(self.sync.commit))
            try:
                await asyncio.shield(self._committing)
            finally:
                if self._committing.done():
                    self._committing = None
        else:
            self.sync.commit()

    async def _settle(self) -> None:
        if self._committing is not None:
            with contextlib.suppress(Exception):
                await self._committing
            self._committing = None

    async def rollback(self) -> None:
        await self._settle()
        self.sync.rollback()

    async def close(self) -> None:
        await self._settle()
        self.sync.close()


@dataclass(eq=False)
class _Writer:
    """One `write()`: waits for the shared connection, uses it, hands it back
    (finished: True to keep its work, False to roll it back), waits for the commit."""

    granted: asyncio.Future[Any]
    finished: asyncio.Future[bool]
    committed: asyncio.Future[None]
    # Set for `write_rows()`: plain rows for hot-path statements, run with
    # every other such writer's rows in one executemany per statement.
    ops: RawOps | None = None


class CommitFailed(Exception):
    """The shared transaction could not be committed (or begun): nothing its
    writers wrote is stored, and none of them may report success."""


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be written now (disk full,
    read-only, unreachable, locked too long, its file gone), as opposed to a
    writer's own mistake (a constraint, bad SQL), which says nothing about it."""
    if isinstance(exc, CommitFailed):
        return True
    if isinstance(exc, sa.exc.IntegrityError | sa.exc.ProgrammingError | sa.exc.DataError):
        return False
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        # PostgreSQL: 25006 read-only transaction, 53xxx out of disk/memory,
        # 08xxx connection, 57P0x shutdown, 58xxx system error (SQLSTATE).
        code = str(getattr(exc.orig, "sqlstate", "") or getattr(exc.orig, "pgcode", "") or "")
        return code == "25006" or code[:2] in ("53", "08", "58") or code.startswith("57P")
    return isinstance(exc, OSError)


def _error_class(exc: BaseException) -> str:
    """The class of the driver's error behind `exc` (no message: it may hold
    statement parameters)."""
    seen: BaseException | None = exc
    while isinstance(seen, CommitFailed | sa.exc.StatementError):
        inner = seen.orig if isinstance(seen, sa.exc.StatementError) else seen.__cause__
        if inner is None:
            break
        seen = inner
    assert seen is not None
    return type(seen).__name__


class WriteHealth:
    """Whether writes succeed, from their outcomes (no query of its own): the
    last write failed because the database could not be written, and none
    succeeded since -> failing. `/healthz` reads it; a successful write
    clears it, so recovery needs nothing but the disk back."""

    def __init__(self) -> None:
        self.error: str | None = None  # the failing write's error class
        self.failing_since: float | None = None
        self.last_outcome = time.monotonic()
        # Set when the database file was deleted or replaced under us
        # (`Database.check_file`): every write is refused from then on.
        self.lost: str | None = None

    @property
    def failing(self) -> bool:
        return self.failing_since is not None or self.lost is not None

    def failed(self, exc: BaseException) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.error(
                "database writes are failing (%s); answering InternalError / 503",
                _error_class(exc),
            )
        self.error = _error_class(exc)
        self.last_outcome = time.monotonic()
        metrics.DB_WRITE_FAILURES.inc()
        metrics.DB_WRITES_FAILING.set(1)

    def succeeded(self) -> None:
        if self.failing_since is not None:
            log.warning(
                "database writes succeed again after %.1f s", time.monotonic() - self.failing_since
            )
            self.failing_since = None
            self.error = None
            metrics.DB_WRITES_FAILING.set(0 if self.lost is None else 1)
        self.last_outcome = time.monotonic()


class _GroupCommit:
    """Runs writers one after another on one connection, committing in batches."""

    def __init__(self, db: Database, max_batch: int = 1000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: collections.deque[_Writer] = collections.deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        # The driver's own connection (sqlite3, asyncpg) under `_conn`, once
        # the batch's transaction has begun (see `_savepoint`).
        self._driver: Any = None
        # The asyncpg connection under `_conn`, kept between batches to see
        # whether the server closed it (`is_closed()`, no round trip).
        self._pg_driver: Any = None
        self._busy = False
        # Set when a writer of the batch in progress failed for want of a
        # writable database (see `unavailable`): the batch then clears nothing.
        self.saw_unavailable = False

    def backlog(self) -> int:
        return len(self._queue) + int(self._busy)

    def enqueue(self, ops: RawOps | None = None) -> _Writer:
        loop = asyncio.get_running_loop()
        if ops is None:
            writer = _Writer(loop.create_future(), loop.create_future(), loop.create_future())
        else:
            # Rows need no connection handed out, only the commit is awaited:
            # one future (granted and finished are never looked at for them).
            committed: asyncio.Future[Any] = loop.create_future()
            writer = _Writer(committed, committed, committed, ops)
        self._queue.append(writer)
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="group-commit")
        self._wakeup.set()
        return writer

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._batch()

    async def _batch(self) -> None:
        self._busy = True
        try:
            await self._commit_batch()
        finally:
            self._busy = False

    async def _commit_batch(self) -> None:
        done: list[_Writer] = []
        rows: list[_Writer] = []  # writers of rows not yet run
        current: _Writer | None = None
        health = self._db.health
        self.saw_unavailable = False
        try:
            if health.lost is not None:
                raise CommitFailed(health.lost)
            last = self._pg_driver
            if last is not None and last.is_closed():
                # Closed under us (a server restart, a failover): a new one,
                # rather than failing this batch's writers on the old one.
                await self._drop_connection()
            if self._conn is None:
                self._conn = await self._db._writer_connection()
            conn = self._conn
            await conn.begin()
            self._driver = None
            while self._queue and len(done) + len(rows) < self._max_batch:
                current = self._queue.popleft()
                if current.ops is not None:
                    rows.append(current)
                    current = None
                    continue
                if rows:
                    # Run them before a writer that might read what they write.
                    done += await self._run_rows(conn, rows)
                    rows = []
                if current.granted.cancelled():
                    current = None
                    continue
                # One constant savepoint name, reused: SQLAlchemy's numbered
                # savepoints are new SQL each time, and asyncpg prepared two
                # statements per writer for them (profiled).
                await self._savepoint(conn, "SAVEPOINT volta_writer")
                current.granted.set_result(conn)
                if await asyncio.shield(current.finished):
                    await self._savepoint(conn, "RELEASE SAVEPOINT volta_writer")
                    done.append(current)
                else:
                    await self._savepoint(conn, "ROLLBACK TO SAVEPOINT volta_writer")
                    await self._savepoint(conn, "RELEASE SAVEPOINT volta_writer")
                current = None
            if rows:
                done += await self._run_rows(conn, rows)
                rows = []
            started = time.perf_counter()
            await conn.commit()
            metrics.DB_COMMIT_SECONDS.observe(time.perf_counter() - started)
            metrics.DB_BATCH_SIZE.observe(len(done))
        except Exception as exc:
            await self._drop_connection()
            failure = CommitFailed(f"database write failed: {exc}")
            failure.__cause__ = exc
            health.failed(exc)
            if current is not None:
                done.append(current)
            done += rows
            # Fail everyone waiting too: with the database down, retrying in a
            # loop here would only spin; their handlers answer InternalError.
            while self._queue:
                waiting = self._queue.popleft()
                if waiting.ops is not None:
                    waiting.committed.set_exception(failure)
                elif not waiting.granted.done():
                    waiting.granted.set_exception(failure)
            for writer in done:
                if writer.ops is None and not writer.granted.done():
                    writer.granted.set_exception(failure)
                elif not writer.committed.done():
                    writer.committed.set_exception(failure)
            return
        if done and not self.saw_unavailable:
            health.succeeded()
        for writer in done:
            if not writer.committed.done():
                writer.committed.set_result(None)

    async def _run_rows(self, conn: Any, writers: list[_Writer]) -> list[_Writer]:
        """Run the rows of `writers`, one executemany per statement for all of
        them; the writers that succeeded (to be committed). When the batch
        fails, each writer's rows run again alone so that only the bad one fails."""
        merged: dict[RawStatement, list[tuple[Any, ...]]] = {}
        for writer in writers:
            assert writer.ops is not None
            for statement, rows in writer.ops:
                merged.setdefault(statement, []).extend(rows)
        try:
            await self._savepoint(conn, "SAVEPOINT volta_rows")
            await self._db._raw_run(self._driver, merged.items())
            await self._savepoint(conn, "RELEASE SAVEPOINT volta_rows")
            return writers
        except Exception:
            await self._savepoint(conn, "ROLLBACK TO SAVEPOINT volta_rows")
        ok: list[_Writer] = []
        for writer in writers:
            assert writer.ops is not None
            try:
                await self._db._raw_run(self._driver, writer.ops)
            except Exception as exc:
                await self._savepoint(conn, "ROLLBACK TO SAVEPOINT volta_rows")
                if unavailable(exc):
                    self.saw_unavailable = True
                    self._db.health.failed(exc)
                writer.committed.set_exception(exc)
                continue
            await self._savepoint(conn, "RELEASE SAVEPOINT volta_rows")
            await self._savepoint(conn, "SAVEPOINT volta_rows")
            ok.append(writer)
        await self._savepoint(conn, "RELEASE SAVEPOINT volta_rows")
        return ok

    async def _savepoint(self, conn: Any, sql: str) -> None:
        """SAVEPOINT, RELEASE or ROLLBACK TO on the driver's own connection:
        through SQLAlchemy each costs its statement machinery (on PostgreSQL a
        greenlet hop and about 100 us, profiled: 9 % of the loop at full
        rate). SQLAlchemy's asyncpg adapter begins the transaction on the
        first statement it runs, so on PostgreSQL a batch's first savepoint
        still goes through SQLAlchemy; SQLite's BEGIN IMMEDIATE is sent by
        `conn.begin()` itself."""
        driver = self._driver
        if driver is None:
            if self._db.is_sqlite:
                driver = self._driver = conn.sync.connection.driver_connection
            else:
                await conn.exec_driver_sql(sql)
                self._driver = (await conn.get_raw_connection()).driver_connection
                self._pg_driver = self._driver
                return
        if self._db.is_sqlite:
            driver.execute(sql)
        else:
            await driver.execute(sql)

    async def _drop_connection(self) -> None:
        conn, self._conn, self._driver, self._pg_driver = self._conn, None, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.rollback()
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self._drop_connection()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = sa.engine.make_url(async_url(url))
    if not parsed.drivername.startswith("sqlite"):
        return None
    name = parsed.database or ""
    if name in ("", ":memory:") or name.startswith("file:"):
        return None
    return Path(name).absolute()


def lock_path(path: Path) -> Path:
    """The lock file beside a SQLite database: migrations take it, and once
    the database exists it holds a line saying so (see
    `Database.check_missing`). An empty lock file only says a first start
    began here, perhaps still creating the database under the lock."""
    return path.with_name(path.name + ".lock")


PRIVATE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")


def make_private(path: Path) -> None:
    """The database file and its companions: readable by their owner only."""
    for suffix in PRIVATE_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), 0o600)


class DatabaseMissing(Exception):
    """The SQLite file is gone though one was created here before."""


class SchemaBehind(Exception):
    """The database's schema is not the one this version of Volta needs."""


class Database:
    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.schema = schema
        self.is_sqlite = self.url.startswith("sqlite")
        self.health = WriteHealth()
        self.path = sqlite_path(self.url) if self.is_sqlite else None
        # (st_dev, st_ino) of the file once opened: `check_file` compares.
        self._identity: tuple[int, int] | None = None
        self._sync_engine: sa.Engine | None = None
        self._async_engine: AsyncEngine | None = None
        if self.is_sqlite:
            # check_same_thread off: the writer's COMMIT runs in a worker
            # thread (see _InlineConnection.commit); one thread at a time.
            self._sync_engine = sa.create_engine(
                self.url.replace("sqlite+aiosqlite", "sqlite", 1),
                connect_args={"check_same_thread": False},
                hide_parameters=True,  # never a secret in a log or an error
            )
            event.listen(self._sync_engine, "connect", _private_connect)
            event.listen(self._sync_engine, "begin", _sqlite_begin)
        else:
            kwargs: dict[str, Any] = {
                # Reads (API, dashboard, look-ups); the group-commit lanes
                # hold one connection each on top. Several nodes on one
                # server: nodes x (2 x pool_size + 4) within max_connections.
                "pool_size": pool_size,
                "max_overflow": pool_size,
                "pool_pre_ping": True,
                "hide_parameters": True,  # never a secret in a log or an error
            }
            if schema:
                # Tests isolate themselves in a schema of their own.
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
            self._async_engine = create_async_engine(self.url, **kwargs)
        # SQLite has one writer by design. PostgreSQL commits in parallel, and
        # one connection would serialise every statement's network round trip:
        # lanes, each its own connection and batch. A station waits for each
        # answer before its next message, so its writes never overlap. Two,
        # measured against four: larger batches, 1.05-1.28x the round trips
        # per CPU-second in four paired runs, the same throughput and storm.
        self._lanes = [_GroupCommit(self) for _ in range(1 if self.is_sqlite else PG_LANES)]
        # How this backend's driver takes a datetime in `write_rows()` rows.
        self.db_time = sqlite_time if self.is_sqlite else pg_time

    async def _raw_run(self, driver: Any, ops: Any) -> None:
        """Each statement's rows in one executemany on the driver's connection."""
        if self.is_sqlite:
            for statement, rows in ops:
                driver.executemany(statement.sqlite, rows)
            return
        for statement, rows in ops:
            await driver.executemany(statement.postgresql, rows)

    async def write_rows(self, station_id: str | None, ops: RawOps) -> None:
        """Run hot-path `ops` (plain rows for `RawStatement`s) in the next group
        commit; returns once they are durable, like `write()`."""
        await asyncio.shield(self._lane(station_id).enqueue(ops).committed)

    def _lane(self, station_id: str | None) -> _GroupCommit:
        """The group commit a write goes to: a station's always the same one
        (see `write()`), anything else the least busy."""
        if len(self._lanes) == 1:
            return self._lanes[0]
        if station_id is not None:
            return self._lanes[hash(station_id) % len(self._lanes)]
        return min(self._lanes, key=_GroupCommit.backlog)

    async def _writer_connection(self) -> Any:
        if self._sync_engine is not None:
            conn = self._sync_engine.connect().execution_options(volta_writer=True)
            return _InlineConnection(conn, commit_in_thread=True)
        assert self._async_engine is not None
        return await self._async_engine.connect()

    @contextlib.asynccontextmanager
    async def write(self, station_id: str | None = None) -> AsyncIterator[Any]:
        """A transaction that commits on exit; when it returns, the data is durable.

        Keep the block short and never open another `write()` inside it: the
        block runs on the shared writer connection while others wait.
        Writes about a station name it: all of them go to the same lane, so
        two lanes never hold locks on one station's rows and cannot deadlock
        (seen in a 10,000-station storm, where a station's old and new
        connections wrote in different lanes).
        """
        lane = self._lane(station_id)
        writer = lane.enqueue()
        try:
            conn = await writer.granted
        except asyncio.CancelledError:
            if not writer.granted.cancel():  # granted just now: hand it back
                writer.finished.set_result(False)
            raise
        try:
            yield conn
        except BaseException as exc:
            if unavailable(exc):
                # Disk full or read-only shows in the statement, not the commit.
                lane.saw_unavailable = True
                self.health.failed(exc)
            writer.finished.set_result(False)
            raise
        writer.finished.set_result(True)
        await asyncio.shield(writer.committed)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Any]:
        if self._sync_engine is not None:
            with self._sync_engine.connect() as conn:
                yield _InlineConnection(conn)
            return
        assert self._async_engine is not None
        async with self._async_engine.connect() as aconn:
            yield aconn

    async def run_sync(self, fn: Any, *args: Any) -> Any:
        """Run `fn(sync_connection, *args)` in a transaction (migrations)."""
        if self._sync_engine is not None:
            with self._sync_engine.begin() as conn:
                return fn(conn, *args)
        assert self._async_engine is not None
        async with self._async_engine.begin() as aconn:
            return await aconn.run_sync(fn, *args)

    def insert(self, table: Any) -> Any:
        """An INSERT that supports ON CONFLICT on this backend."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    def check_missing(self) -> None:
        """Refuse to open a SQLite database whose file is gone though one was
        created here (its lock file says so): SQLite would silently start an
        empty one. Delete the lock file to start afresh on purpose. Called
        under the migration lock, so that a process still creating the
        database is waited for, never taken for a lost one."""
        if self.path is None or self.path.exists():
            return
        marker = lock_path(self.path)
        try:
            created = marker.stat().st_size > 0
        except FileNotFoundError:
            created = False
        if created:
            raise DatabaseMissing(
                f"the database {self.path} is missing, but {marker.name} beside it shows one "
                "was created there: restore the file from a backup, or delete "
                f"{marker} to start with an empty database"
            )

    def remember_file(self) -> None:
        """Note which file is the database (after it was opened and migrated)
        and make it and its companions private (0600)."""
        if self.path is None:
            return
        make_private(self.path)
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)

    def check_file(self) -> bool:
        """False, and every write refused from now on, when the database file
        was deleted or replaced while open: SQLite would go on writing to
        the deleted file, and all of it would be lost at the next start.
        Called by housekeeping and /healthz (one stat)."""
        if self.path is None or self._identity is None:
            return True
        if self.health.lost is not None:
            return False
        try:
            st = os.stat(self.path)
            same = (st.st_dev, st.st_ino) == self._identity
        except FileNotFoundError:
            same = False
        if not same:
            self.health.lost = (
                f"the database file {self.path} was deleted or replaced while open; "
                "writes are refused: restore it and restart Volta"
            )
            log.error("%s", self.health.lost)
            metrics.DB_WRITES_FAILING.set(1)
        return same

    async def probe(self) -> None:
        """A tiny real write through the group commit (healthz, when writes
        failed and nothing was written since): its outcome updates `health`."""
        with contextlib.suppress(Exception):
            async with self.write() as conn:
                await conn.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        for lane in self._lanes:
            await lane.close()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._async_engine is not None:
            await self._async_engine.dispose()
