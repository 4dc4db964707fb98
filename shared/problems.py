"""RFC 9457 problem+json: one place that turns every error into a response."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import messages
from shared.busy import is_busy
from shared.errors import (
    DomainError,
    FieldError,
    ServiceUnavailable,
    ValidationFailed,
    field_errors,
)

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
        lang = messages.language(request.headers.get("accept-language"))
        extra: dict[str, Any] = dict(exc.extra)
        headers = None
        detail = exc.detail
        if isinstance(exc, ValidationFailed):
            extra["errors"] = [_translated(e, lang) for e in exc.errors]
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in extra["errors"])
        elif isinstance(extra.get("errors"), list):  # a peer's or an import's field errors
            extra["errors"] = [_translated_dict(e, lang) for e in extra["errors"]]
        if not isinstance(exc, ValidationFailed) and isinstance(extra.get("rule"), str):
            params = {k: v for k, v in extra.items() if isinstance(v, str | int | float)}
            translated = messages.message(extra["rule"], lang, detail, params)
            if translated != detail:
                detail = translated + _where(extra.get("errors"))
        if isinstance(exc, ServiceUnavailable) or exc.status == 503:
            headers = {"Retry-After": str(retry_after_s)}
        if exc.status == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="lianjie"'}
        if exc.status == 429 and "retry_after_s" in extra:
            headers = {"Retry-After": str(extra["retry_after_s"])}
        extra.pop("title", None), extra.pop("status", None), extra.pop("detail", None)
        extra.pop("type", None), extra.pop("instance", None)
        title = messages.title(exc.title, lang)
        return problem(
            exc.status, title, detail, instance=_instance(request), headers=headers, **extra
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        failed = ValidationFailed(field_errors(list(exc.errors())))
        return await on_domain_error(request, failed)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = messages.language(request.headers.get("accept-language"))
        english = str(exc.detail) if exc.status_code != 404 else "Not found"
        return problem(
            exc.status_code,
            messages.title(english, lang),
            messages.title(english, lang),
            instance=_instance(request),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_busy(exc):  # the database is busy for now: the client retries, nothing was written
            log.warning(
                "database busy (%s) on %s %s", type(exc).__name__, request.method, request.url.path
            )
            busy = ServiceUnavailable("the database is busy; try again shortly")
            return await on_domain_error(request, busy)
        # Only the path and the exception type: the message may carry personal data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        if messages.language(request.headers.get("accept-language")) == "en":
            return problem(500, "Internal error", "an unexpected error occurred; it was logged")
        return problem(500, "内部错误", "发生了意外错误，已记录")


def _where(errors: Any) -> str:
    """`：line 3 (organization), …`: which rows and fields a refusal with `errors` names."""
    if not isinstance(errors, list):
        return ""
    named = [e for e in errors if isinstance(e, dict) and "field" in e]
    places = [f"{e['ref']} ({e['field']})" if "ref" in e else str(e["field"]) for e in named]
    return "：" + ", ".join(places) if places else ""


def _translated(error: FieldError, lang: messages.Language) -> dict[str, str]:
    text = messages.message(error.rule, lang, error.message, error.params)
    return {"field": error.field, "rule": error.rule, "message": text}


def _translated_dict(error: Any, lang: messages.Language) -> Any:
    if not isinstance(error, dict) or not isinstance(error.get("rule"), str):
        return error
    message = str(error.get("message", ""))
    return {**error, "message": messages.message(error["rule"], lang, message)}
