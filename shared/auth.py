"""Sign-in tokens: short-lived, signed with Ed25519 (EdDSA), so services hold only the public key.

A token carries who the user is and the scope of what they may see: a station's adcode prefix,
a coordinator's organization, a reviewer's department and region.
"""

import functools
import hashlib
import hmac
import os
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import Unauthorized

ALGORITHM = "EdDSA"
ISSUER = "lianjie"


class Role(StrEnum):
    """The roles of the people who use Lianjie."""

    SOCIAL_WORKER = "social_worker"  # 社工, scoped to a station's adcode
    STATION_LEAD = "station_lead"  # 站长
    COUNTY_HUB = "county_hub"  # 县社工总站: supervises the county
    COORDINATOR = "coordinator"  # 资源方联络人, scoped to one organization
    ALLIANCE_REVIEWER = "alliance_reviewer"  # 救助联合体审核人, a department and region
    ADMIN = "admin"


class Principal(BaseModel):
    """Who a verified token says the caller is, and what their scope is. Frozen: a verified
    token's principal is kept and shared by every request that carries the token."""

    model_config = ConfigDict(frozen=True)

    sub: str
    role: Role
    adcode: str | None = None
    organization: str | None = None
    department: str | None = None
    ver: int = Field(0, ge=0, description="the user's token version when it was issued")


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def ensure_keypair(folder: Path) -> tuple[Path, Path]:
    """The signing key pair in `folder` (mode 0700), created (files mode 0600) when missing."""
    private, public = folder / "signing-key.pem", folder / "signing-key.pub.pem"
    if not private.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_pem, public_pem = generate_keypair()
        private.touch(mode=0o600)
        private.write_bytes(private_pem)
        public.touch(mode=0o600)
        public.write_bytes(public_pem)
    return private, public


def issue_token(*, principal: Principal, private_pem: bytes, ttl: timedelta) -> str:
    """A signed token for `principal`, valid for `ttl`."""
    now = datetime.now(UTC)
    claims = principal.model_dump(exclude_none=True)
    claims |= {"iss": ISSUER, "iat": now, "exp": now + ttl, "jti": secrets.token_hex(8)}
    return jwt.encode(claims, private_pem, algorithm=ALGORITHM)


VERIFIED_KEPT = 4096
"""Tokens whose signature was verified, kept with their principal until they expire: a client
sends the same token with every request of its 15 minutes, and checking the signature each
time (and reading the PEM key) was a fifth of the CPU of a small request."""

_verified: dict[tuple[bytes, str], tuple[Principal, float]] = {}
_verified_lock = threading.Lock()


def verify_token(token: str, *, public_pem: bytes) -> Principal:
    """The principal of a valid token; Unauthorized for anything else (no detail leaks).
    A token verified before (the very same string, against the same key) is not verified
    again while it has not expired."""
    key = (public_pem, token)
    known = _verified.get(key)
    if known is not None:
        principal, expires = known
        if time.time() < expires:
            return principal
        with _verified_lock:
            _verified.pop(key, None)
        raise Unauthorized("the token has expired: sign in again")
    try:
        claims = jwt.decode(
            token,
            _public_key(public_pem),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub"]},
        )
        principal = Principal.model_validate(claims)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired: sign in again") from exc
    except (jwt.InvalidTokenError, ValidationError) as exc:
        raise Unauthorized("the token is not valid") from exc
    with _verified_lock:
        while len(_verified) >= VERIFIED_KEPT:  # the oldest go first
            _verified.pop(next(iter(_verified)))
        _verified[key] = (principal, float(claims["exp"]))
    return principal


@functools.lru_cache(maxsize=8)
def _public_key(public_pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise Unauthorized("the token is not valid")  # a key of another kind verifies nothing
    return key


def hash_password(password: str) -> str:
    """A salted scrypt hash, stored as `scrypt$<salt hex>$<hash hex>`."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when `password` matches a hash from `hash_password` (constant-time compare)."""
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)
