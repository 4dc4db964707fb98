"""Sign-in routes: exchange a user name and password for a short-lived bearer token."""

import json
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from services.needs.settings import NeedsSettings
from services.needs.users import service
from services.needs.users.schemas import MeOut, SignIn, TokenOut
from shared.access import authenticated
from shared.auth import Principal, issue_token
from shared.db import run_read
from shared.errors import ServiceUnavailable, ValidationFailed, field_errors

router = APIRouter(tags=["auth"])


def _settings(request: Request) -> NeedsSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _limiter(request: Request) -> service.SignInLimiter:
    state = request.app.state
    if not hasattr(state, "sign_in_limiter"):
        settings = _settings(request)
        state.sign_in_limiter = service.SignInLimiter(
            attempts=settings.auth_sign_in_attempts, window_s=settings.auth_sign_in_window_s
        )
    return state.sign_in_limiter  # type: ignore[no-any-return]


@cache
def _private_key(path: Path) -> bytes:
    return path.read_bytes()


async def _sign_in_body(request: Request) -> SignIn:
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = json.loads(raw or b"{}")
        else:  # the OAuth2 password form (application/x-www-form-urlencoded)
            data = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        return SignIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(list(exc.errors()))) from exc
    except ValueError as exc:
        raise ValidationFailed.one("body", "json_invalid", "the body is not valid JSON") from exc


@router.post(
    "/auth/token",
    response_model=TokenOut,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": SignIn.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": SignIn.model_json_schema()},
            }
        }
    },
)
async def sign_in(request: Request) -> TokenOut:
    """Sign in: a bearer token for `Authorization: Bearer …`, valid `expires_in` seconds.
    Attempts are limited per user name and client (429 with Retry-After)."""
    body = await _sign_in_body(request)
    settings = _settings(request)
    if settings.auth_private_key_file is None:
        raise ServiceUnavailable("sign-in is not configured (LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE)")
    client = request.client.host if request.client else "unknown"
    key = f"{body.username}|{client}"
    limiter = _limiter(request)
    limiter.check(key)
    principal = await run_read(
        request.app.state.sessions,
        lambda s: service.authenticate(session=s, username=body.username, password=body.password),
    )
    limiter.forget(key)
    token = issue_token(
        principal=principal,
        private_pem=_private_key(settings.auth_private_key_file),
        ttl=timedelta(seconds=settings.auth_token_ttl_s),
    )
    return TokenOut(access_token=token, expires_in=settings.auth_token_ttl_s)


@router.get("/auth/me", response_model=MeOut)
async def me(principal: Principal = Depends(authenticated)) -> MeOut:
    """Who the token says you are, and your scope."""
    return MeOut(username=principal.sub, **principal.model_dump(exclude={"sub"}))
