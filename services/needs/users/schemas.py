"""HTTP models of sign-in."""

from pydantic import BaseModel, ConfigDict, Field

from services.needs.referrals.schemas import Utc
from shared.auth import Role


class SignIn(BaseModel):
    """User name and password (JSON, or the OAuth2 password form)."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    """A bearer token and how many seconds it lives; a refresh token for the next one."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str = Field(description="POST /auth/refresh gives a new pair; use once")
    refresh_expires_in: int


class RefreshIn(BaseModel):
    """A refresh token from sign-in or the last refresh."""

    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordChange(BaseModel):
    """The current password and the new one (every token issued before ends)."""

    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


class MeOut(BaseModel):
    """Who the token says the caller is."""

    username: str
    role: Role
    adcode: str | None = None
    organization: str | None = None
    department: str | None = None


class UserCreate(BaseModel):
    """A new user: the role and the scope it needs (an adcode within the manager's county)."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64, pattern=r"^[\w.@-]+$")
    password: str = Field(min_length=8, max_length=200)
    role: Role
    adcode: str | None = Field(None, pattern=r"^\d{2,12}$", description="Station or county")
    organization: str | None = Field(None, min_length=1, max_length=200)
    department: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", examples=["health"]
    )


class UserOut(BaseModel):
    """A user as the county hub's list shows them (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    username: str
    role: Role
    adcode: str | None
    organization: str | None
    department: str | None
    active: bool
    created_at: Utc


class UserList(BaseModel):
    """One page of users, shaped as every list of the needs service."""

    items: list[UserOut]
    total: int
    limit: int
    offset: int
