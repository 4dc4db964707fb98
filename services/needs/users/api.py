"""Sign-in routes: a user name and password for a short-lived bearer token and a refresh token;
refresh, sign out, change one's password. And the county hub's users: list, add, deactivate."""

import json
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi import Path as PathParam
from pydantic import ValidationError
from sqlalchemy.orm import Session

from services.needs import jurisdiction
from services.needs.settings import NeedsSettings
from services.needs.users import limits, service
from services.needs.users import sessions as user_sessions
from services.needs.users.limits import SignInLimits
from services.needs.users.schemas import (
    MeOut,
    PasswordChange,
    RefreshIn,
    SignIn,
    TokenOut,
    UserCreate,
    UserList,
    UserOut,
)
from shared.access import authenticated
from shared.auth import Principal, Role, issue_token
from shared.db import run_in_transaction, run_read
from shared.errors import ServiceUnavailable, Unauthorized, ValidationFailed, field_errors
from shared.web import Page, pages

router = APIRouter(tags=["auth"])


def _settings(request: Request) -> NeedsSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _limits(request: Request) -> SignInLimits:
    settings = _settings(request)
    return SignInLimits(
        attempts=settings.auth_sign_in_attempts,
        lock_s=settings.auth_sign_in_lock_s,
        max_lock_s=settings.auth_sign_in_max_lock_s,
    )


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
    """Sign in: a bearer token for `Authorization: Bearer …`, valid `expires_in` seconds, and a
    refresh token (POST /auth/refresh). Wrong passwords lock the user name for the client that
    sent them, for longer each time (429 with Retry-After); other clients are not locked."""
    body = await _sign_in_body(request)
    settings = _settings(request)
    _signing_key(settings)
    client = request.client.host if request.client else "unknown"
    key = limits.failure_key(body.username, client)
    sessions = request.app.state.sessions
    await run_read(sessions, lambda s: limits.check_not_locked(s, key))
    try:
        user = await run_read(
            sessions,
            lambda s: service.authenticate(
                session=s, username=body.username, password=body.password
            ),
        )
    except Unauthorized:
        await run_in_transaction(
            sessions, lambda s: limits.record_failure(s, key, _limits(request))
        )
        raise

    def start_session(session: Session) -> str:
        limits.clear_failures(session, key)
        return user_sessions.issue(session, user, timedelta(seconds=settings.auth_refresh_ttl_s))

    refresh_token = await run_in_transaction(sessions, start_session)
    return _token_pair(settings, service.principal_of(user), refresh_token)


@router.post("/auth/refresh", response_model=TokenOut)
async def refresh(body: RefreshIn, request: Request) -> TokenOut:
    """A new token pair for a refresh token, which is spent: use the new one next time. A spent
    refresh token used again ends its whole session (401; sign in again)."""
    settings = _settings(request)
    _signing_key(settings)
    ttl = timedelta(seconds=settings.auth_refresh_ttl_s)
    outcome = await run_in_transaction(
        request.app.state.sessions, lambda s: user_sessions.rotate(s, body.refresh_token, ttl)
    )
    if outcome == "reused":
        raise Unauthorized("this refresh token was used before: the session is ended, sign in")
    if not isinstance(outcome, user_sessions.Rotated):
        raise Unauthorized("the refresh token is not valid: sign in again")
    return _token_pair(settings, service.principal_of(outcome.user), outcome.refresh_token)


@router.post("/auth/logout", status_code=204)
async def logout(body: RefreshIn, request: Request) -> Response:
    """Sign out: the session of this refresh token ends (its access token lapses within
    LIANJIE_NEEDS_AUTH_TOKEN_TTL_S). Answers 204 for an unknown token too."""
    await run_in_transaction(
        request.app.state.sessions, lambda s: user_sessions.sign_out(s, body.refresh_token)
    )
    return Response(status_code=204)


@router.post("/auth/password", status_code=204)
async def change_password(
    body: PasswordChange, request: Request, principal: Principal = Depends(authenticated)
) -> Response:
    """Change your password: every token and session of yours ends on every service (sign in
    again with the new password)."""

    def change(session: Session) -> None:
        try:
            service.authenticate(
                session=session, username=principal.sub, password=body.current_password
            )
        except Unauthorized as exc:
            raise ValidationFailed.one(
                "current_password", "password_mismatch", "the current password is not right"
            ) from exc
        service.change_password(session=session, username=principal.sub, password=body.new_password)

    await run_in_transaction(request.app.state.sessions, change)
    return Response(status_code=204)


def _signing_key(settings: NeedsSettings) -> bytes:
    if settings.auth_private_key_file is None:
        raise ServiceUnavailable("sign-in is not configured (LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE)")
    return _private_key(settings.auth_private_key_file)


def _token_pair(settings: NeedsSettings, principal: Principal, refresh_token: str) -> TokenOut:
    token = issue_token(
        principal=principal,
        private_pem=_signing_key(settings),
        ttl=timedelta(seconds=settings.auth_token_ttl_s),
    )
    return TokenOut(
        access_token=token,
        expires_in=settings.auth_token_ttl_s,
        refresh_token=refresh_token,
        refresh_expires_in=settings.auth_refresh_ttl_s,
    )


@router.get("/auth/me", response_model=MeOut)
async def me(principal: Principal = Depends(authenticated)) -> MeOut:
    """Who the token says you are, and your scope."""
    return MeOut(username=principal.sub, **principal.model_dump(exclude={"sub"}))


# ---------------------------------------------------------------- the county hub's users

_page = pages(
    lambda request: _settings(request).page_size_max,
    default=50,
    cap_name="LIANJIE_NEEDS_PAGE_SIZE_MAX",
)


@router.get("/users", response_model=UserList, tags=["users"])
async def list_users(
    request: Request,
    role: Role | None = None,
    active: bool | None = None,
    page: Page = Depends(_page),
) -> UserList:
    """The users of the caller's county (their adcode within it), by user name."""
    area = jurisdiction.area_of(request)

    def work(s: Session) -> UserList:
        rows, total = service.get_all(
            session=s, area=area, role=role, active=active, limit=page.limit, offset=page.offset
        )
        items = [UserOut.model_validate(u) for u in rows]
        return UserList(items=items, total=total, limit=page.limit, offset=page.offset)

    return await run_read(request.app.state.sessions, work)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, tags=["users"])
async def add_user(body: UserCreate, request: Request, response: Response) -> UserOut:
    """Add a user of the caller's county: any role but admin, with an adcode within it (and the
    organization or department the role needs)."""
    area = jurisdiction.area_of(request)

    def work(s: Session) -> UserOut:
        service.check_manages(area=area, role=body.role, adcode=body.adcode)
        user = service.create(session=s, **body.model_dump())
        return UserOut.model_validate(user)

    out = await run_in_transaction(request.app.state.sessions, work)
    response.headers["Location"] = f"/users/{out.username}"
    return out


async def _set_active(request: Request, username: str, *, active: bool, by: str) -> UserOut:
    area = jurisdiction.area_of(request)
    return await run_in_transaction(
        request.app.state.sessions,
        lambda s: UserOut.model_validate(
            service.set_managed_active(
                session=s, username=username, active=active, area=area, by=by
            )
        ),
    )


@router.post("/users/{username}/deactivate", response_model=UserOut, tags=["users"])
async def deactivate_user(
    request: Request,
    username: str = PathParam(max_length=64),
    principal: Principal = Depends(authenticated),
) -> UserOut:
    """Deactivate a user of the caller's county: they cannot sign in, and every token of theirs
    ends on every service within seconds."""
    return await _set_active(request, username, active=False, by=principal.sub)


@router.post("/users/{username}/activate", response_model=UserOut, tags=["users"])
async def activate_user(
    request: Request,
    username: str = PathParam(max_length=64),
    principal: Principal = Depends(authenticated),
) -> UserOut:
    """Let a deactivated user of the caller's county sign in again."""
    return await _set_active(request, username, active=True, by=principal.sub)
