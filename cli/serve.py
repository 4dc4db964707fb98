"""`lianjie serve <service>`: run one service in the foreground, as a container does."""

import importlib.util

import typer
import uvicorn

from cli.stack import SERVICES
from shared.http_server import SERVING


def serve(
    service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)} (or console)"),
    host: str = typer.Option("0.0.0.0", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Run one service (its settings from LIANJIE_* variables or their _FILE files)."""
    if not service.isidentifier() or importlib.util.find_spec(f"services.{service}") is None:
        raise typer.BadParameter(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    uvicorn.run(
        f"services.{service}.app:create_app",
        factory=True,
        host=host,
        port=port,
        http=SERVING.http,  # httptools, with h11's limits on a request's head
        loop=SERVING.loop,
        access_log=False,  # the app logs each request as JSON, with its request id
        timeout_graceful_shutdown=25,  # under k8s' 30 s: a long import still answers
        # X-Forwarded-For is believed only from LIANJIE_TRUSTED_PROXIES (shared/web.py).
        proxy_headers=False,
    )
