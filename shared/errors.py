"""One error vocabulary for every service's domain logic; `problems.py` turns it into HTTP."""

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class FieldError:
    """One rule that one field broke; `params` fill the catalog's message (shared/messages)."""

    field: str
    rule: str
    message: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class DomainError(Exception):
    """Base of the errors domain code raises; `status` is the HTTP status it maps to."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class NotFound(DomainError):
    status = 404
    title = "Not found"


def unknown(kind: str) -> NotFound:
    """The 404 for an id that names no `kind` the caller may see: the same answer whether none
    exists or it lies outside their scope (a 403 would tell that it exists), and never the id
    itself (a client may have sent personal data in its place)."""
    return NotFound(f"no {kind} with this id")


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"


class InvalidTransition(Conflict):
    title = "Invalid transition"


class CapacityExhausted(Conflict):
    title = "Capacity exhausted"


class ServiceUnavailable(DomainError):
    """A dependency (NATS, a peer service) did not answer in time."""

    status = 503
    title = "Service unavailable"


class ValidationFailed(DomainError):
    """Input broke one or more rules; every broken rule is named with its field."""

    status = 422
    title = "Validation failed"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, field_name: str, rule: str, message: str, **params: Any) -> "ValidationFailed":
        """One broken rule; `params` fill the catalog's message (`le=cap` for less_than_equal)."""
        return cls([FieldError(field_name, rule, message, params)])


class RemoteError(DomainError):
    """A peer answered a NATS request with an error; its status and problem are passed on."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail", "remote error")), extra=problem)
        self.status = status
        self.title = str(problem.get("title", "Remote error"))


def field_errors(pydantic_errors: list[Any]) -> list[FieldError]:
    """Pydantic's error list as FieldErrors; the field path leaves out the `body` prefix."""
    result = []
    for err in pydantic_errors:
        # Invalid JSON is located at the character offset it broke at: the field is the body.
        parts = () if err.get("type") == "json_invalid" else err.get("loc", ())
        loc = [str(part) for part in parts if part not in ("body", "query", "path")]
        params = {k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, int | float)}
        result.append(
            FieldError(".".join(loc) or "body", str(err.get("type")), str(err.get("msg")), params)
        )
    return result


class Unauthorized(DomainError):
    """No valid credentials: a missing, expired or forged token."""

    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    """Valid credentials, but this role or scope may not do this."""

    status = 403
    title = "Forbidden"
