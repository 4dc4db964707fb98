"""`lianjie`: run the stack, load the demo county."""

import signal
import time
from pathlib import Path
from types import FrameType

import typer

from cli.demo import already_loaded, load_demo
from cli.matcher import matcher_app
from cli.needs import needs_app
from cli.referrals import referrals_app
from cli.resources import resources_app
from cli.stack import SERVICES, Stack, StackConfig
from shared.demo import DEFAULT_COUNTY, generate_county

app = typer.Typer(help="Lianjie (链接): resource matching and referral for social work stations.")
app.add_typer(resources_app, name="resources")
app.add_typer(matcher_app, name="matcher")
app.add_typer(needs_app, name="needs")
app.add_typer(referrals_app, name="referrals")


@app.callback()
def main() -> None:
    """Lianjie's command line."""


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command()
def up(
    demo: bool = typer.Option(False, "--demo", help="Load a demo county once the stack is up"),
    var_dir: Path = typer.Option(Path("var"), help="Where SQLite files and the NATS store live"),
    nats_port: int = typer.Option(4222, help="NATS port (another free one if it is taken)"),
    port_base: int = typer.Option(8000, help="Services listen on base+1 (needs), +2, +3"),
    seed: int = typer.Option(2026, help="Seed of the demo county"),
    county: str = typer.Option(DEFAULT_COUNTY, help="Adcode of the demo county"),
    households: int = typer.Option(200, help="Households in the demo county"),
    resources: int = typer.Option(120, help="Resources in the demo county"),
) -> None:
    """Start NATS and the three services on 127.0.0.1; Ctrl-C stops them all."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    ports = {service: port_base + offset for offset, service in enumerate(SERVICES, start=1)}
    stack = Stack(StackConfig(var_dir=var_dir, nats_port=nats_port, ports=ports))
    try:
        stack.start()
        need_id = None
        if demo and already_loaded(resources_url=stack.url("resources")):
            typer.echo(f"{var_dir} already holds data: the demo county is not loaded again")
        elif demo:
            typer.echo("loading the demo county…")
            county_data = generate_county(
                seed=seed, county=county, households=households, resources=resources
            )
            loaded = load_demo(
                county_data, needs_url=stack.url("needs"), resources_url=stack.url("resources")
            )
            need_id = loaded.need_ids[0]
        _print_where_to_look(stack, need_id)
        while all(p.popen.poll() is None for p in stack.processes.values()):
            time.sleep(0.5)
        typer.echo("a child process exited; stopping the stack", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping…")
    finally:
        stack.stop()


def _print_where_to_look(stack: Stack, need_id: str | None) -> None:
    lines = ["", "Lianjie is up:"]
    for service in SERVICES:
        lines.append(f"  {service:<10} {stack.url(service)}/docs")
    lines.append(f"  nats       {stack.nats_plain_url} (users in {stack.config.var_dir}/nats)")
    if need_id:
        lines += [
            "",
            "Try the matcher on a demo need:",
            f"  curl -s -X POST {stack.url('needs')}/needs/{need_id}/matches"
            " | python3 -m json.tool",
        ]
    lines += ["", "Ctrl-C stops everything."]
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    app()
