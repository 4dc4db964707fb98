"""Database helpers: engines with the right SQLite pragmas, sessions, Alembic migrations."""

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, Table, create_engine, event, func, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "lianjie_read_only"
"""Execution option of a connection that only reads: on SQLite it begins a deferred transaction
(a WAL reader never waits for the write lock, and never holds it from a writer)."""
T = TypeVar("T")
R = TypeVar("R")


class AwareSQLiteDateTime(SQLITE_DATETIME):
    """`DateTime(timezone=True)` on SQLite, which has no time zones: written as UTC, read back
    aware (UTC), as PostgreSQL's timestamptz is. Without it every answer built from a row read
    on SQLite carried a naive time (no offset) while the same answer on PostgreSQL did not."""

    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        inner = super().bind_processor(dialect)

        def process(value: Any) -> Any:
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return inner(value) if inner is not None else value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        inner = super().result_processor(dialect, coltype)
        if not self.timezone:
            return inner

        def process(value: Any) -> Any:
            value = inner(value) if inner is not None else value
            if isinstance(value, datetime) and value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value

        return process


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; on SQLite: WAL, a busy timeout, writers that lock up front, and
    times with a zone read back aware (`AwareSQLiteDateTime`)."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    _ensure_sqlite_folder(url)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
    dialect = engine.dialect
    dialect.colspecs = {**dialect.colspecs, sqltypes.DateTime: AwareSQLiteDateTime}

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a killed process loses
        # nothing it committed (the WAL is in the OS's hands), a power cut may lose the last
        # commits but never corrupts the file. FULL's fsync per commit halved a 10,000-row
        # ledger import's speed (one transaction a row), and more behind another disk writer.
        # Production runs PostgreSQL (docs/deploy.md).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock at the start, so a read-then-write transaction
        # waits its turn (busy_timeout) instead of failing later with SQLITE_BUSY. A read
        # (`read_session`, `ping`) begins deferred: taking the write lock for every read queued
        # reads behind writes, and on a slow disk the queue outgrew the busy timeout (a 500).
        read_only = conn.get_execution_options().get(READ_ONLY)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def pool_options(url: str, workers: int) -> dict[str, Any]:
    """Connection pool sizes for `workers` threads: one connection each on PostgreSQL (SQLite
    keeps SQLAlchemy's defaults: its writers take turns anyway)."""
    if url.startswith("sqlite"):
        return {}
    return {"pool_size": workers, "max_overflow": 10}


def _ensure_sqlite_folder(url: str) -> None:
    """The folder (mode 0700 when made here) and an empty file (mode 0600) of a SQLite database,
    so it is readable by its owner only; SQLite gives its WAL and journal files the same mode."""
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (responses are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error: nothing half-written."""
    with factory() as session, session.begin():
        yield session


def page_of(session: Session, query: "Select[R]", limit: int, offset: int) -> tuple[list[R], int]:
    """One page of `query` (already ordered) and how many rows it has in all."""
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = session.scalars(query.limit(limit).offset(offset))
    return list(rows), total


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (dicts with the same columns, by column name) in the session's
    transaction: PostgreSQL takes them by COPY, each value bound through its column's type
    as an INSERT binds it (an encrypted column encrypted, JSON dumped); other databases by
    one executemany. A bulk import's rows: COPY costs the server a tenth of what one INSERT
    execution a row costs, and skips SQLAlchemy's per-row parameter processing."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    names = list(rows[0])
    bind = [_bind_processor(table.c[name].type, connection.dialect) for name in names]
    columns = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    driver = connection.connection.driver_connection
    assert driver is not None
    quoted = connection.dialect.identifier_preparer.format_table(table)
    with driver.cursor().copy(f"COPY {quoted} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([process(row[name]) for name, process in zip(names, bind, strict=True)])


def vacuum_analyze(factory: sessionmaker[Session], table: Table) -> None:
    """After a bulk load (PostgreSQL): mark the table's new pages all-visible and count its
    rows again, so an index-only scan reads the index alone at once instead of the table's
    pages until autovacuum comes by. Other databases: nothing to do."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        return
    quoted = engine.dialect.identifier_preparer.format_table(table)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM (ANALYZE) {quoted}")


def _bind_processor(column_type: Any, dialect: Any) -> Callable[[Any], Any]:
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


@contextmanager
def read_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reading only: on SQLite it takes no write lock (see `READ_ONLY`)."""
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


def ping(engine: Engine) -> None:
    """Raise if the database does not answer."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        conn.execute(text("SELECT 1"))


def migrate(engine: Engine, migrations_dir: Path) -> None:
    """Bring the schema to the newest Alembic revision of `migrations_dir`."""
    # Imported here: Alembic is a second of imports on a busy machine, and a process that
    # migrates nothing (the matcher) should not wait for it when it restarts.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")  # sub-domains may add migration branches


def run_migrations_online(target_metadata: Any) -> None:
    """The body of every service's `migrations/env.py`."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no connection and no sqlalchemy.url for migrations")
        with create_db_engine(url).begin() as conn:
            _run(context, conn, target_metadata)
        return
    _run(context, connection, target_metadata)


def _run(context: Any, connection: Any, target_metadata: Any) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    context.run_migrations()


async def run_in_transaction(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run blocking `work` in one transaction on a worker thread, off the event loop."""

    def _do() -> T:
        with transaction(factory) as session:
            return work(session)

    return await asyncio.to_thread(_do)


async def run_read(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run blocking read-only `work` on a worker thread."""

    def _do() -> T:
        with read_session(factory) as session:
            return work(session)

    return await asyncio.to_thread(_do)
