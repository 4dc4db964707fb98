"""Users and sign-in: create a user, check a password, limit sign-in attempts."""

import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.users.models import User
from shared.auth import Principal, Role, check_password, hash_password
from shared.errors import Conflict, DomainError, Unauthorized, ValidationFailed

# Checked when the user name is unknown too, so the answer takes as long either way.
_DUMMY_HASH = hash_password("not a password of anyone")


class TooManyAttempts(DomainError):
    """Too many sign-in attempts for one user name from one client."""

    status = 429
    title = "Too many requests"


def get_by_username(*, session: Session, username: str) -> User | None:
    """The user with this user name, or None."""
    return session.scalar(select(User).where(User.username == username))


def create(
    *,
    session: Session,
    username: str,
    password: str,
    role: Role,
    adcode: str | None = None,
    organization: str | None = None,
    department: str | None = None,
) -> User:
    """A new user; the scope a role needs must be given (a social worker's adcode, …)."""
    _check_scope(role=role, adcode=adcode, organization=organization, department=department)
    if len(password) < 8:
        raise ValidationFailed.one("password", "min_length", "a password has at least 8 characters")
    if get_by_username(session=session, username=username) is not None:
        raise Conflict(f"user {username} exists already")
    user = User(
        id=str(uuid.uuid4()),
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        adcode=adcode,
        organization=organization,
        department=department,
        active=True,
    )
    session.add(user)
    session.flush()
    return user


def _check_scope(
    *, role: Role, adcode: str | None, organization: str | None, department: str | None
) -> None:
    needed = {
        Role.SOCIAL_WORKER: ("adcode", adcode),
        Role.STATION_LEAD: ("adcode", adcode),
        Role.COUNTY_HUB: ("adcode", adcode),
        Role.COORDINATOR: ("organization", organization),
        Role.ALLIANCE_REVIEWER: ("department", department),
    }.get(role)
    if needed is not None and not needed[1]:
        raise ValidationFailed.one(needed[0], "missing", f"a {role.value} needs a {needed[0]}")
    if adcode is not None and not (adcode.isdigit() and 2 <= len(adcode) <= 12):
        raise ValidationFailed.one("adcode", "pattern", "an adcode prefix has 2 to 12 digits")


def principal_of(user: User) -> Principal:
    """What a token of this user carries."""
    return Principal(
        sub=user.username,
        role=Role(user.role),
        adcode=user.adcode,
        organization=user.organization,
        department=user.department,
    )


def authenticate(*, session: Session, username: str, password: str) -> Principal:
    """The principal of a user whose password matches; Unauthorized otherwise (the same answer
    for an unknown user and a wrong password)."""
    user = get_by_username(session=session, username=username)
    matches = check_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not matches or not user.active:
        raise Unauthorized("user name or password is wrong")
    return principal_of(user)


@dataclass
class SignInLimiter:
    """At most `attempts` sign-in attempts per key (user name and client) in `window_s`."""

    attempts: int
    window_s: float
    seen: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, key: str) -> None:
        """Count an attempt; TooManyAttempts (with Retry-After) once the window is full."""
        now = time.monotonic()
        times = self.seen.setdefault(key, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if len(times) >= self.attempts:
            retry = max(1, int(self.window_s - (now - times[0])) + 1)
            raise TooManyAttempts(
                "too many sign-in attempts: wait before trying again",
                extra={"retry_after_s": retry},
            )
        times.append(now)
        if len(self.seen) > 10_000:  # forget idle keys rather than grow without bound
            for idle in [k for k, v in self.seen.items() if now - v[-1] >= self.window_s]:
                del self.seen[idle]

    def forget(self, key: str) -> None:
        """A successful sign-in clears the count."""
        self.seen.pop(key, None)
