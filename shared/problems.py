"""RFC 9457 problem+json: one place that turns every error into a response."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import DomainError, ServiceUnavailable, ValidationFailed, field_errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _instance(request: Request) -> str | None:
    """The route's path template (`/households/{household_id}`), never the path as sent: an id
    in it may be personal data a client put there (an ID number sent as a household id)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def install_problem_handlers(app: FastAPI, *, retry_after_s: int) -> None:
    """Register the handlers that make every error of `app` a problem+json."""

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> JSONResponse:
        extra: dict[str, Any] = dict(exc.extra)
        headers = None
        if isinstance(exc, ValidationFailed):
            extra["errors"] = [e.as_dict() for e in exc.errors]
        if isinstance(exc, ServiceUnavailable) or exc.status == 503:
            headers = {"Retry-After": str(retry_after_s)}
        if exc.status == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="lianjie"'}
        if exc.status == 429 and "retry_after_s" in extra:
            headers = {"Retry-After": str(extra["retry_after_s"])}
        extra.pop("title", None), extra.pop("status", None), extra.pop("detail", None)
        extra.pop("type", None), extra.pop("instance", None)
        return problem(
            exc.status, exc.title, exc.detail, instance=_instance(request), headers=headers, **extra
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        failed = ValidationFailed(field_errors(list(exc.errors())))
        return await on_domain_error(request, failed)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            instance=_instance(request),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only the path and the exception type: the message may carry personal data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem(500, "Internal error", "an unexpected error occurred; it was logged")
