"""Tables of the users sub-domain: who may sign in, with which role and scope; failed sign-ins
(shared by every replica, kept across restarts); refresh tokens (stored hashed)."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.needs.models import Base
from shared.clock import utc_now


class User(Base):
    """A person who signs in (用户): a role and the scope that narrows it."""

    __tablename__ = "app_user"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    adcode: Mapped[str | None] = mapped_column(String(12))
    organization: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    token_version: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        doc="carried by the user's tokens; raised to end them all (users.tokens)",
    )


class SignInFailure(Base):
    """Wrong passwords in a row for one user name from one client, and the lock they earned."""

    __tablename__ = "sign_in_failure"

    key: Mapped[str] = mapped_column(String(64), primary_key=True, doc="keyed hash of user|client")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(Base):
    """A refresh token (only its hash): used once, then replaced by the next of its family."""

    __tablename__ = "refresh_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
