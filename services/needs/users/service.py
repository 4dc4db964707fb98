"""Users and sign-in: create a user, check a password, end a user's tokens (disable, delete,
change of password)."""

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.needs.models import OutboxEvent
from services.needs.users.models import RefreshToken, User
from shared.auth import Principal, Role, check_password, hash_password
from shared.contracts.tokens import TokensRevoked, tokens_subject, user_key
from shared.errors import Conflict, DomainError, NotFound, Unauthorized, ValidationFailed
from shared.outbox import add_event

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
    county: str | None = None,
) -> User:
    """A new user; the scope a role needs must be given (a social worker's adcode, …). A
    reviewer without a region reviews in `county` (the deployment's): without either, refused."""
    _check_scope(role=role, adcode=adcode, organization=organization, department=department)
    if role is Role.ALLIANCE_REVIEWER and not adcode and not county:
        raise ValidationFailed.one(
            "adcode",
            "region_required",
            "a reviewer needs a region (adcode) where the deployment sets no county "
            "(LIANJIE_NEEDS_COUNTY_ADCODE)",
        )
    _check_password_rules(password)
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
        # Versions grow with the clock, so a user re-created under a deleted one's name does not
        # inherit the revocation that ended the old tokens, nor escape it.
        token_version=int(time.time()),
    )
    session.add(user)
    session.flush()
    return user


def _check_password_rules(password: str) -> None:
    if len(password) < 8:
        raise ValidationFailed.one("password", "min_length", "a password has at least 8 characters")


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
        ver=user.token_version,
    )


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The user whose password matches; Unauthorized otherwise (the same answer for an unknown
    user, a wrong password and a disabled account)."""
    user = get_by_username(session=session, username=username)
    matches = check_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not matches or not user.active:
        raise Unauthorized("user name or password is wrong")
    return user


def end_tokens(session: Session, user: User) -> None:
    """End every token of `user` on every service, within seconds: raise their token version,
    publish the new lowest valid one (`shared.contracts.tokens`, through the outbox, so it goes
    out only if this change commits), and revoke their refresh tokens."""
    now = datetime.now(UTC)
    user.token_version = max(user.token_version + 1, int(time.time()))
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    add_event(
        session,
        OutboxEvent,
        subject=tokens_subject(user.username),
        aggregate_id=user.id,
        payload=TokensRevoked(
            user_key=user_key(user.username), min_version=user.token_version, at=now
        ),
    )
    session.flush()


def _existing(session: Session, username: str) -> User:
    user = get_by_username(session=session, username=username)
    if user is None:
        raise NotFound("no user with this name")
    return user


def set_active(*, session: Session, username: str, active: bool) -> User:
    """Enable or disable a user; disabling ends their tokens."""
    user = _existing(session, username)
    if user.active and not active:
        end_tokens(session, user)
    user.active = active
    return user


def delete(*, session: Session, username: str) -> None:
    """Delete a user; their tokens end with them."""
    user = _existing(session, username)
    end_tokens(session, user)
    session.delete(user)
    session.flush()


def change_password(*, session: Session, username: str, password: str) -> User:
    """Set a new password; every token issued before ends (sign in again)."""
    _check_password_rules(password)
    user = _existing(session, username)
    user.password_hash = hash_password(password)
    end_tokens(session, user)
    return user
