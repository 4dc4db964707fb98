"""HTTP models of sign-in."""

from pydantic import BaseModel, Field

from shared.auth import Role


class SignIn(BaseModel):
    """User name and password (JSON, or the OAuth2 password form)."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    """A bearer token and how many seconds it lives."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeOut(BaseModel):
    """Who the token says the caller is."""

    username: str
    role: Role
    adcode: str | None = None
    organization: str | None = None
    department: str | None = None
