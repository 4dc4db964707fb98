"""Where the CLI finds the services: one setting that follows `lianjie up`'s ports.

`lianjie up --port-base N` (or `LIANJIE_PORT_BASE=N`) puts needs on N+1, resources on N+2 and
the matcher on N+3; every HTTP command of the CLI reads the same `LIANJIE_PORT_BASE` (and
`LIANJIE_HOST`), so setting it once points both at the same stack. `LIANJIE_NEEDS_URL`,
`LIANJIE_RESOURCES_URL` … still name one service elsewhere, and `--url` one call.
"""

import os

import typer

from cli.stack import SERVICES

DEFAULT_PORT_BASE = 8000
PORT_BASE_VARIABLE = "LIANJIE_PORT_BASE"


def port_base() -> int:
    """The port base of the stack the CLI talks to (`LIANJIE_PORT_BASE`, else 8000)."""
    raw = os.environ.get(PORT_BASE_VARIABLE, "")
    return int(raw) if raw.strip().isdigit() else DEFAULT_PORT_BASE


def service_url(service: str) -> str:
    """`LIANJIE_<SERVICE>_URL` if set, else the service's URL in a `lianjie up` stack."""
    explicit = os.environ.get(f"LIANJIE_{service.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    host = os.environ.get("LIANJIE_HOST", "127.0.0.1")
    return f"http://{host}:{port_base() + SERVICES.index(service) + 1}"


def url_option(service: str) -> str:
    """The `--url` option of a command that calls `service` (see the module doc)."""
    return typer.Option(  # type: ignore[no-any-return]
        None,
        "--url",
        help=f"The {service} service (default: LIANJIE_{service.upper()}_URL, else "
        f"LIANJIE_PORT_BASE + {SERVICES.index(service) + 1}, as `lianjie up` uses)",
        show_default=False,
    )


def resolved(service: str, url: str | None) -> str:
    """The URL a command calls: `--url` if given, else `service_url`."""
    return (url or service_url(service)).rstrip("/")
