"""Ending a user's tokens on every service: the needs service (which signs tokens) publishes the
lowest token version still valid for a user; every service keeps the last one per user in
memory (`shared.revocation`) and refuses older tokens, with no database call per request.

One subject per user, `lianjie.auth.tokens.v1.<user key>`, in the `LIANJIE_TOKENS` stream that
keeps the last message of each subject: a service that starts replays the current state. The
user key is a hash of the user name (subject-safe, and no name on the bus).
"""

import hashlib
from datetime import datetime

from pydantic import BaseModel, Field

TOKENS_REVOKED = "lianjie.auth.tokens.v1"
"""Prefix of revocations: `lianjie.auth.tokens.v1.<user key>`."""

TOKENS_REVOKED_ALL = f"{TOKENS_REVOKED}.*"


def user_key(username: str) -> str:
    """The subject token naming a user: the first 32 hex digits of SHA-256 of the user name."""
    return hashlib.sha256(username.encode()).hexdigest()[:32]


def tokens_subject(username: str) -> str:
    """The subject a user's revocations are published on."""
    return f"{TOKENS_REVOKED}.{user_key(username)}"


class TokensRevoked(BaseModel):
    """Tokens of `user_key` with a version below `min_version` are no longer valid (the user was
    disabled or deleted, or changed their password)."""

    user_key: str = Field(pattern=r"^[0-9a-f]{32}$")
    min_version: int = Field(ge=0)
    at: datetime
