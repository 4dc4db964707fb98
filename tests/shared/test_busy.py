"""`is_busy` (shared/busy.py) tells the database refusing for now from other errors, without
importing SQLAlchemy itself (a service without a database never loads it)."""

import sqlite3

from sqlalchemy.exc import IntegrityError, OperationalError

from shared.busy import is_busy


def test_a_locked_sqlite_database_is_busy() -> None:
    locked = OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))
    assert is_busy(locked)


def test_a_postgres_lock_timeout_is_busy() -> None:
    class LockTimeout(Exception):
        sqlstate = "55P03"

    assert is_busy(OperationalError("UPDATE x", {}, LockTimeout("lock timeout")))


def test_other_errors_are_not_busy() -> None:
    duplicate = IntegrityError("INSERT x", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    assert not is_busy(duplicate)
    assert not is_busy(TimeoutError())
