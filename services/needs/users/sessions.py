"""Sessions: refresh tokens that keep a worker signed in for a working day, not 15 minutes.

A refresh token is a random secret given once, stored only as its SHA-256. Each use rotates it:
the used one is spent and a new one of the same family is given. A spent token used again means
it was copied: the whole family is revoked, so neither the thief nor the owner keeps the session
(the owner signs in again). Sign-out revokes the family; disabling a user, deleting them or
changing their password revokes all of theirs (`service.end_tokens`).
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.needs.users.models import RefreshToken, User


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def issue(session: Session, user: User, ttl: timedelta, family_id: str | None = None) -> str:
    """A new refresh token of `user` (a new family unless given); only its hash is kept."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        RefreshToken(
            id=str(uuid.uuid4()),
            family_id=family_id or str(uuid.uuid4()),
            user_id=user.id,
            token_hash=_hash(token),
            issued_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class Rotated:
    """A refresh that worked: the user, and their next refresh token."""

    user: User
    refresh_token: str


def rotate(session: Session, token: str, ttl: timedelta) -> Rotated | str:
    """Spend `token` and give the next of its family; "invalid" (unknown, expired, revoked,
    user gone or disabled) or "reused" (spent before: the family is revoked now). Run in a
    transaction that commits either way, so a reuse's revocation holds."""
    now = datetime.now(UTC)
    row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return "invalid"
    spent = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(spent, "rowcount", 0) != 1:  # spent already (or by a request racing this one)
        revoke_family(session, row.family_id)
        return "reused"
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return "invalid"
    return Rotated(user, issue(session, user, ttl, family_id=row.family_id))


def revoke_family(session: Session, family_id: str) -> None:
    """Revoke every token of a family (sign-out, or a reuse)."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


def sign_out(session: Session, token: str) -> None:
    """End the session `token` belongs to (nothing happens for an unknown token)."""
    family = session.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == _hash(token))
    )
    if family is not None:
        revoke_family(session, family)
