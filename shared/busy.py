"""Whether an error is the database refusing for now: apart from `shared.db` so that a service
without a database (the matcher) can answer such errors without importing SQLAlchemy, about a
second of imports on a busy machine."""

from __future__ import annotations

import sys


def is_busy(exc: BaseException) -> bool:
    """True when the database refused for now, not for good: SQLite's lock not free within
    the busy timeout, PostgreSQL's lock timeout, deadlock or serialization failure. Such a
    request is answered 503 with Retry-After (the client retries), never 500."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None:  # SQLAlchemy never imported: no error can be one of its
        return False
    if not isinstance(exc, errors.DBAPIError):  # OperationalError is one
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in ("40001", "40P01", "55P03", "57014"):
        return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message
