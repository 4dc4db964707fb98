"""`lianjie streams provision`: create the JetStream streams, or bring their configuration up to
date, as the NATS `admin` user. Services never do this (their users may not): `lianjie up` runs
it after starting nats-server; compose and k8s run `lianjie deploy streams` (the same step,
retried while a cluster forms) as a one-off job before the services."""

import asyncio
import threading
from pathlib import Path

import nats
import typer

from cli import nats_config
from shared.contracts.streams import STREAMS
from shared.messaging import ensure_streams
from shared.settings import CommonSettings

streams_app = typer.Typer(help="JetStream streams (an operator's step, as NATS admin).")


async def provision(
    url: str,
    *,
    timeout_s: float = 10.0,
    replicas: int | None = None,
    user: str | None = None,
    password: str | None = None,
) -> list[str]:
    """Create or update every stream over the admin connection at `url` (as `user`, or the
    user the URL names), with `replicas` copies each (default LIANJIE_JETSTREAM_REPLICAS);
    their names. The one provisioning step: `lianjie streams provision` and `lianjie deploy
    streams` both run it."""
    nc = await nats.connect(
        servers=url.split(","),
        user=user,
        password=password,
        connect_timeout=timeout_s,
        max_reconnect_attempts=3,
    )
    try:
        copies = replicas if replicas is not None else CommonSettings().jetstream_replicas
        await ensure_streams(nc.jetstream(), replicas=copies)
    finally:
        await nc.close()
    return [spec.name for spec in STREAMS]


def provision_now(url: str, *, timeout_s: float = 10.0, replicas: int | None = None) -> list[str]:
    """`provision`, from synchronous code, on a thread of its own (the caller may be running
    an event loop: an async test, say)."""
    done: list[list[str]] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(asyncio.run(provision(url, timeout_s=timeout_s, replicas=replicas)))
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=run, name="provision-streams")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return done[0]


@streams_app.command("provision")
def provision_command(
    nats_url: str | None = typer.Option(
        None, help="Admin NATS URL (default: LIANJIE_NATS_URL, else the `lianjie up` in var-dir)"
    ),
    var_dir: Path = typer.Option(Path("var"), help="Where `lianjie up` keeps its files"),
) -> None:
    """Create the streams, or update their configuration (idempotent)."""
    common = CommonSettings()
    url = nats_url or (
        common.nats_url
        if "nats_url" in common.model_fields_set
        else nats_config.admin_url(var_dir) or common.nats_url
    )
    try:
        names = provision_now(url)
    except Exception as exc:
        typer.echo(f"cannot provision the streams: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from exc
    typer.echo("streams ready: " + ", ".join(names))
