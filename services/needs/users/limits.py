"""Sign-in limits kept in the needs database, so every replica counts the same failures and a
restart forgets none.

Failures are counted per user name and client (the peer address, or the X-Forwarded-For of a
trusted proxy: LIANJIE_TRUSTED_PROXIES). After `attempts` wrong passwords in a row that pair is
locked for `lock_s`, doubled by each further failure up to `max_lock_s`: an attacker elsewhere
locks out only themselves, and the owner signs in from their own client. A right password
clears the count. Rows are keyed by a keyed hash of the pair (no name or address in clear).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.needs.users.models import SignInFailure
from shared.clock import utc_now
from shared.crypto import field_cipher
from shared.errors import DomainError


class TooManyAttempts(DomainError):
    """Too many wrong passwords for one user name from one client."""

    status = 429
    title = "Too many requests"


@dataclass(frozen=True)
class SignInLimits:
    """How many wrong passwords lock a user name and client, and for how long."""

    attempts: int
    lock_s: float
    max_lock_s: float

    def lock_for(self, failures: int) -> float:
        """The lock earned by `failures` in a row (0 below the limit)."""
        if failures < self.attempts:
            return 0.0
        return float(min(self.max_lock_s, self.lock_s * 2 ** min(failures - self.attempts, 30)))


def failure_key(username: str, client: str) -> str:
    """The row key of a user name and client: their keyed hash."""
    return field_cipher().blind_index(f"{username}\n{client}")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_not_locked(session: Session, key: str) -> None:
    """TooManyAttempts (with Retry-After) while the pair is locked."""
    locked_until = session.scalar(
        select(SignInFailure.locked_until).where(SignInFailure.key == key)
    )
    if locked_until is None:
        return
    left = (_aware(locked_until) - utc_now()).total_seconds()
    if left > 0:
        raise TooManyAttempts(
            "too many wrong passwords from this client: wait before trying again",
            extra={"retry_after_s": int(left) + 1},
        )


def record_failure(session: Session, key: str, limits: SignInLimits) -> None:
    """Count a wrong password (atomically, whichever replica sees it) and lock when due."""
    now = utc_now()
    row = session.get(SignInFailure, key)
    if row is not None and now - _aware(row.last_failed_at) > timedelta(seconds=limits.max_lock_s):
        session.execute(delete(SignInFailure).where(SignInFailure.key == key))
        row = None
    if row is None:
        forgotten = now - timedelta(seconds=limits.max_lock_s)
        # Guessed user names leave rows behind: a new one sweeps out those long forgotten.
        session.execute(
            delete(SignInFailure).where(
                SignInFailure.last_failed_at < forgotten,
                (SignInFailure.locked_until.is_(None)) | (SignInFailure.locked_until < now),
            )
        )
        try:
            with session.begin_nested():
                session.add(SignInFailure(key=key, failures=1, last_failed_at=now))
        except IntegrityError:  # another replica counted its first failure meanwhile
            row = None
        else:
            _lock(session, key, 1, limits, now)
            return
    session.execute(
        update(SignInFailure)
        .where(SignInFailure.key == key)
        .values(failures=SignInFailure.failures + 1, last_failed_at=now)
    )
    failures = session.scalar(select(SignInFailure.failures).where(SignInFailure.key == key))
    _lock(session, key, int(failures or 1), limits, now)


def _lock(session: Session, key: str, failures: int, limits: SignInLimits, now: datetime) -> None:
    seconds = limits.lock_for(failures)
    if seconds > 0:
        until = now + timedelta(seconds=seconds)
        session.execute(
            update(SignInFailure).where(SignInFailure.key == key).values(locked_until=until)
        )


def clear_failures(session: Session, key: str) -> None:
    """A right password clears the pair's count."""
    session.execute(delete(SignInFailure).where(SignInFailure.key == key))
