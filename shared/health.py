"""`/healthz` (the process is up) and `/readyz` (every dependency answers)."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

Check = Callable[[], str | None] | Callable[[], Awaitable[str | None]]
"""A readiness check: returns None when fine, else a short reason (no personal data). A plain
function runs on a worker thread (it may block on the database); a coroutine function runs on
the event loop (it asks NATS) and must bound its own wait."""


def health_router(checks: dict[str, Check]) -> APIRouter:
    """Health endpoints for a service whose readiness is the conjunction of `checks`."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database and NATS reachable, caught up")
    async def readyz() -> JSONResponse:
        results = {name: await _run(check) for name, check in checks.items()}
        ready = all(value == "ok" for value in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    return router


async def _run(check: Check) -> str:
    try:
        if inspect.iscoroutinefunction(check):
            reason = await check()
        else:
            reason = await asyncio.to_thread(check)
    except Exception as exc:
        return f"failed: {type(exc).__name__}"
    return reason or "ok"
