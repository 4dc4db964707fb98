"""Users and sign-in: create a user, check a password, end a user's tokens (disable, delete,
change of password), and the county hub's management of its county's users."""

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.needs.models import OutboxEvent
from services.needs.users.models import RefreshToken, User
from shared.auth import Principal, Role, check_password, hash_password
from shared.contracts.tokens import TokensRevoked, tokens_subject, user_key
from shared.db import page_of
from shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
    unknown,
)
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
        raise Conflict(
            f"user {username} exists already",
            extra={
                "rule": "unique",
                "errors": [{"field": "username", "rule": "unique", "message": "taken"}],
            },
        )
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


# ---------------------------------------------------------------- managed by the county hub


def get_all(
    *,
    session: Session,
    area: str | None,
    role: Role | None = None,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[User], int]:
    """A page of the users whose adcode lies in `area` (every user when None), by user name."""
    query = select(User)
    if area is not None:
        query = query.where(User.adcode.startswith(area, autoescape=True))
    if role is not None:
        query = query.where(User.role == role.value)
    if active is not None:
        query = query.where(User.active == active)
    return page_of(session, query.order_by(func.lower(User.username), User.id), limit, offset)


def check_manages(*, area: str | None, role: Role, adcode: str | None) -> None:
    """A manager of `area` (None: an admin, everywhere) may give a user this role and adcode:
    never the admin role, and always an adcode within the area (a coordinator's or a reviewer's
    too: the county their account belongs to). Refusals name the field."""
    if area is None:
        return
    if role is Role.ADMIN:
        raise _refused("role", "role", "an administrator is added by an operator (lianjie users)")
    if not adcode:
        raise ValidationFailed.one("adcode", "missing", "a user of your county needs an adcode")
    if not adcode.startswith(area):
        raise _refused("adcode", "scope", "this adcode is outside your jurisdiction")


def _refused(field: str, rule: str, message: str) -> Forbidden:
    return Forbidden(message, extra={"rule": rule, "errors": [_named(field, rule, message)]})


def _named(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


def get_managed_or_raise(*, session: Session, username: str, area: str | None) -> User:
    """The user, when within `area`; otherwise 404 exactly as for a user that does not exist."""
    user = get_by_username(session=session, username=username)
    if user is None or (area is not None and not (user.adcode or "").startswith(area)):
        raise unknown("user")
    return user


def set_managed_active(
    *, session: Session, username: str, active: bool, area: str | None, by: str
) -> User:
    """Enable or disable a user of `area`; disabling ends their tokens. Nobody disables
    themselves (they would lock their county out of its own management)."""
    user = get_managed_or_raise(session=session, username=username, area=area)
    if not active and user.username == by:
        raise Conflict("you cannot deactivate your own account", extra={"rule": "state"})
    return set_active(session=session, username=username, active=active)
