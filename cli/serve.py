"""`lianjie serve <service>`: run one service in the foreground, as a container does."""

import importlib.util
from typing import Any

import typer
import uvicorn

from cli.stack import SERVICES
from shared.http_server import SERVING
from shared.settings import CommonSettings


def serve(
    service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)} (or console)"),
    host: str = typer.Option("0.0.0.0", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Run one service (its settings from LIANJIE_* variables or their _FILE files)."""
    if not service.isidentifier() or importlib.util.find_spec(f"services.{service}") is None:
        raise typer.BadParameter(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    uvicorn.run(**server_options(service, host, port))


def server_options(service: str, host: str, port: int) -> dict[str, Any]:
    """uvicorn's options for `service`."""
    return {
        "app": f"services.{service}.app:create_app",
        "factory": True,
        "host": host,
        "port": port,
        "http": SERVING.http,  # httptools, with h11's limits on a request's head
        "loop": SERVING.loop,
        "access_log": False,  # the app logs each request as JSON, with its request id
        # On SIGTERM the requests in flight get LIANJIE_SHUTDOWN_GRACE_S, then the outbox its
        # drain: the orchestrator's kill time allows both (shared/shutdown.py, docs/deploy.md).
        "timeout_graceful_shutdown": CommonSettings().shutdown_grace_s,
        # X-Forwarded-For is believed only from LIANJIE_TRUSTED_PROXIES (shared/web.py).
        "proxy_headers": False,
    }
