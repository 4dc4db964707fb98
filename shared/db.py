"""Database helpers: engines with the right SQLite pragmas, sessions, Alembic migrations."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Select, create_engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
T = TypeVar("T")
R = TypeVar("R")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; on SQLite: WAL, a busy timeout, and writers that lock up front."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    _ensure_sqlite_folder(url)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock at the start, so a read-then-write transaction
        # waits its turn (busy_timeout) instead of failing later with SQLITE_BUSY.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


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


def ping(engine: Engine) -> None:
    """Raise if the database does not answer."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def migrate(engine: Engine, migrations_dir: Path) -> None:
    """Bring the schema to the newest Alembic revision of `migrations_dir`."""
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
        with factory() as session:
            return work(session)

    return await asyncio.to_thread(_do)
