"""The console's FastAPI app: the built browser app and the `/api/…` forwarding, one origin.

It holds no data and no keys: signing in, every rule and every check stay with the services.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.console.api import router
from services.console.settings import ConsoleSettings
from shared import logs, taxonomy, tracing
from shared.health import health_router
from shared.problems import install_problem_handlers

NOT_BUILT = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>链接 Lianjie</title>
<p>控制台尚未构建:请运行 <code>make run</code>(会执行 npm ci 与 vite build)。</p>
<p>The console is not built yet: run <code>make run</code> (it runs npm ci and vite build).</p>
</html>"""


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    logs.configure("console", settings.common.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        transport = httpx.AsyncHTTPTransport(local_address=settings.source_address)
        async with httpx.AsyncClient(
            timeout=settings.upstream_timeout_s, transport=transport
        ) as client:
            app.state.http = client
            yield

    app = FastAPI(
        title="Lianjie console",
        description="The web workplace: the browser app and the forwarding to the services.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=tracing.FASTAPI_TELEMETRY_OFF,
    )
    app.state.upstreams = settings.upstreams()
    if settings.common.trusted_proxies:  # behind an ingress: forward the browser's address
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.common.trusted_proxies)
    install_problem_handlers(app, retry_after_s=settings.common.retry_after_s)
    app.include_router(health_router({}))
    app.include_router(router)

    @app.get("/console/categories", tags=["labels"])
    async def categories() -> list[dict[str, str | None]]:
        """The category taxonomy with zh-CN and English labels, for pickers and tables."""
        return [
            {"code": c.code, "zh": c.zh, "en": c.en, "parent": c.parent}
            for c in taxonomy.CATEGORIES.values()
        ]

    _serve_browser_app(app, settings.resolved_assets_dir())
    return app


def _serve_browser_app(app: FastAPI, dist: Path) -> None:
    """The built files, and index.html for every other path (the app routes in the browser)."""
    assets = dist / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")
    index = dist / "index.html"

    @app.get("/{path:path}", include_in_schema=False)
    async def browser_app(path: str, request: Request) -> Response:
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Retry-After": "30"})
        served = (dist / path).resolve()
        if path and served.is_file() and served.is_relative_to(dist.resolve()):
            return FileResponse(served)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
