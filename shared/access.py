"""Who may call which route: one access policy per service, enforced by one dependency.

Each service declares its policy once (`services/<service>/access.py`): every route, by method
and path template, maps to a `Rule` — the roles allowed and the scope rule that narrows what
they see. The app refuses to build when a route has no rule (or a rule names no route), the
every-route × every-role test walks the same table, and `docs/access.md` is generated from it.

Tokens are verified once per request by `AuthenticationMiddleware` (outside the idempotency
middleware, so a replayed response is only ever given to the user who made the first request);
`guard` turns "no token", "bad token" and "wrong role" into 401 and 403.
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import Principal, Role, verify_token
from shared.errors import Forbidden, Unauthorized
from shared.revocation import TokenRevocations

PRINCIPAL_KEY = "lianjie.principal"
AUTH_ERROR_KEY = "lianjie.auth_error"
RULE_KEY = "lianjie.rule"


class Reach(StrEnum):
    """How a rule narrows what a permitted role sees or changes."""

    NONE = "none"  # open to anyone, no token (sign-in)
    ANY = "any"  # every record; nothing personal in it (resource library, matcher status)
    STATION = "station"  # case data whose household adcode starts with the caller's adcode
    ORGANIZATION = "organization"  # resources of the coordinator's own organization
    REVIEW = "review"  # the reviewer's department and region
    # A referral's resource answers: its organization's coordinator, or, for a resource without
    # an organization (a lone volunteer), the case side of the referral's area on its behalf.
    ANSWER = "answer"
    SELF = "self"  # the caller's own account


ALL_ROLES = frozenset(Role)
CASE_WRITERS = frozenset({Role.SOCIAL_WORKER, Role.STATION_LEAD, Role.ADMIN})
CASE_READERS = CASE_WRITERS | {Role.COUNTY_HUB}


@dataclass(frozen=True)
class Rule:
    """The roles that may call a route, and the scope rule that narrows them."""

    roles: frozenset[Role]
    scope: Reach = Reach.STATION
    note: str = ""

    @property
    def public(self) -> bool:
        return self.scope is Reach.NONE


PUBLIC = Rule(frozenset(), Reach.NONE, "no token needed")


def rule(*roles: Role, scope: Reach = Reach.STATION, note: str = "") -> Rule:
    """A rule for `roles` (admin is always allowed)."""
    return Rule(frozenset(roles) | {Role.ADMIN}, scope, note)


JurisdictionCheck = Callable[[Request, Principal, Rule], Awaitable[None]]


@dataclass(frozen=True)
class Policy:
    """Every route of one service, as (method, path template) → rule; `jurisdiction`, when
    given, checks the caller's scope against the record a request names (after the role)."""

    service: str
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)
    jurisdiction: JurisdictionCheck | None = None

    def rule_for(self, method: str, path: str) -> Rule | None:
        return self.rules.get((method.upper(), path))


def routes_of(routes: Iterable[object]) -> list[tuple[str, str]]:
    """(method, path) of every API route, included routers walked (HEAD, OPTIONS left out)."""
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            if route.include_context.prefix:  # type: ignore[attr-defined]
                raise RuntimeError("the access policy keys routes by their own path: no prefixes")
            found += routes_of(included.routes)
        elif isinstance(route, APIRoute):
            methods = route.methods or set()
            found += [(m, route.path) for m in sorted(methods - {"HEAD", "OPTIONS"})]
    return found


def check_complete(policy: Policy, routes: Iterable[object]) -> None:
    """Fail fast when a route has no rule, or a rule names a route that does not exist."""
    present = set(routes_of(routes))
    missing = sorted(present - set(policy.rules))
    stale = sorted(set(policy.rules) - present)
    if missing or stale:
        raise RuntimeError(
            f"{policy.service}: the access policy does not match the routes; "
            f"routes without a rule: {missing}; rules without a route: {stale}"
        )


def load_public_key(path: Path | None) -> bytes:
    """The public key every service needs to verify tokens; a clear error when it is missing."""
    if path is None:
        raise RuntimeError(
            "LIANJIE_AUTH_PUBLIC_KEY_FILE is not set: every API needs a sign-in token, and a "
            "service cannot verify one without the public key (`lianjie up` creates the pair)"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RuntimeError(f"cannot read the public key {path}: {exc.strerror}") from exc


class AuthenticationMiddleware:
    """Verify the bearer token, if any, and leave the principal (or the error) in the scope."""

    def __init__(
        self, app: ASGIApp, *, public_pem: bytes, revocations: TokenRevocations | None = None
    ) -> None:
        self.app = app
        self.public_pem = public_pem
        self.revocations = revocations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            token = _bearer(scope)
            if token:
                try:
                    principal = verify_token(token, public_pem=self.public_pem)
                    if self.revocations is not None and self.revocations.revoked(principal):
                        raise Unauthorized("the token was ended (sign-out, password or account)")
                    scope[PRINCIPAL_KEY] = principal
                except Unauthorized as exc:
                    scope[AUTH_ERROR_KEY] = exc.detail
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return None


def principal_of(scope: Scope) -> Principal | None:
    """The verified principal of a request, or None."""
    found = scope.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None


def authenticated(request: Request) -> Principal:
    """The verified principal; 401 (with WWW-Authenticate) when there is none."""
    principal = principal_of(request.scope)
    if principal is not None:
        return principal
    error = request.scope.get(AUTH_ERROR_KEY)
    if error:
        raise Unauthorized(str(error))
    if _bearer(request.scope) == "":
        raise Unauthorized("the Authorization header must be `Bearer <token>`")
    raise Unauthorized("sign in first: send `Authorization: Bearer <token>` (POST /auth/token)")


def outside_scope(what: str) -> Forbidden:
    """The 403 for an area, organization or department outside the caller's jurisdiction (names
    the rule, not the data: pass "this station", never the value sent). A record named by id is
    answered as unknown instead (`shared.errors.unknown`)."""
    return Forbidden(f"{what} is outside your jurisdiction", extra={"rule": "scope"})


def well_formed_adcode(value: str) -> bool:
    """A division code or prefix as requests carry them (2–12 digits). A malformed one is the
    route's 422 to answer, not a scope question: a scope check passes it by."""
    return 2 <= len(value) <= 12 and value.isascii() and value.isdigit()


def within(adcode: str | None, prefix: str | None) -> bool:
    """True when `adcode` lies in the area `prefix` names (a missing prefix covers nothing)."""
    return bool(prefix) and adcode is not None and adcode.startswith(prefix or "")


def guard(policy: Policy) -> DependsParam:
    """A router-level dependency that enforces `policy` on every route it guards."""

    async def enforce(request: Request) -> None:
        route = request.scope.get("route")
        path = getattr(route, "path", None)
        found = policy.rule_for(request.method, path) if path else None
        if found is None:  # cannot happen once check_complete passed; refuse rather than allow
            raise Forbidden("no access rule is declared for this route")
        if found.public:
            return
        principal = authenticated(request)
        if principal.role not in found.roles:
            allowed = ", ".join(sorted(r.value for r in found.roles))
            raise Forbidden(
                f"role {principal.role.value} may not {request.method} {path} (allowed: {allowed})",
                extra={"rule": "role", "role": principal.role.value, "allowed": allowed},
            )
        request.scope[RULE_KEY] = found
        if policy.jurisdiction is not None and principal.role is not Role.ADMIN:
            await policy.jurisdiction(request, principal, found)

    return Depends(enforce)
