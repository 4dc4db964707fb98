"""`lianjie`: run the stack, load the demo county."""

import secrets
import signal
import time
from datetime import timedelta
from pathlib import Path
from types import FrameType

import typer

from cli.demo import already_loaded, demo_users, load_demo
from cli.deploy import deploy_app, keys
from cli.divisions import divisions_app
from cli.matcher import matcher_app
from cli.needs import needs_app
from cli.pii import pii_app
from cli.referrals import referrals_app
from cli.resources import resources_app
from cli.serve import serve
from cli.service_url import DEFAULT_PORT_BASE, PORT_BASE_VARIABLE
from cli.stack import CONSOLE, SERVICES, Stack, StackConfig
from cli.streams import streams_app
from cli.users import add_user, needs_database_url, users_app
from shared.auth import Role
from shared.demo import DEFAULT_COUNTY, generate_county

app = typer.Typer(help="Lianjie (链接): resource matching and referral for social work stations.")
app.add_typer(resources_app, name="resources")
app.add_typer(matcher_app, name="matcher")
app.add_typer(needs_app, name="needs")
app.add_typer(pii_app, name="pii")
app.add_typer(referrals_app, name="referrals")
app.add_typer(users_app, name="users")
app.add_typer(divisions_app, name="divisions")
app.add_typer(deploy_app, name="deploy")
app.command()(keys)
app.command()(serve)
app.add_typer(streams_app, name="streams")


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
    port_base: int = typer.Option(
        DEFAULT_PORT_BASE,
        envvar=PORT_BASE_VARIABLE,
        help="The console listens on base, the services on base+1 (needs), +2, +3; the CLI's "
        "commands read the same LIANJIE_PORT_BASE",
    ),
    seed: int = typer.Option(2026, help="Seed of the demo county"),
    county: str = typer.Option(DEFAULT_COUNTY, help="Adcode of the demo county"),
    households: int = typer.Option(200, help="Households in the demo county"),
    resources: int = typer.Option(120, help="Resources in the demo county"),
) -> None:
    """Start NATS, the three services and the console on 127.0.0.1; Ctrl-C stops them all."""
    # Ctrl-C as well as SIGTERM, also when started with SIGINT ignored (a shell's background
    # job inherits that, and the stack would then outlive the Ctrl-C it was promised).
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _raise_interrupt)
    ports = {service: port_base + offset for offset, service in enumerate(SERVICES, start=1)}
    ports[CONSOLE] = port_base
    stack = Stack(StackConfig(var_dir=var_dir, nats_port=nats_port, ports=ports))
    try:
        stack.start()
        need_id = None
        loader = stack.token(Role.ADMIN, sub="demo-loader", ttl=timedelta(minutes=30))
        if demo:
            _add_demo_users(var_dir, county)
        if demo and already_loaded(resources_url=stack.url("resources"), token=loader):
            typer.echo(f"{var_dir} already holds data: the demo county is not loaded again")
        elif demo:
            typer.echo("loading the demo county…")
            county_data = generate_county(
                seed=seed, county=county, households=households, resources=resources
            )
            loaded = load_demo(
                county_data,
                needs_url=stack.url("needs"),
                resources_url=stack.url("resources"),
                token=loader,
            )
            need_id = loaded.need_ids[0]
        _print_where_to_look(stack, need_id, demo=demo)
        while all(p.popen.poll() is None for p in stack.processes.values()):
            time.sleep(0.5)
        typer.echo("a child process exited; stopping the stack", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("\nstopping…")
    finally:
        stack.stop()


def _add_demo_users(var_dir: Path, county: str) -> None:
    """One demo user per role; new passwords go to <var_dir>/demo-users.txt (mode 0600)."""
    listing = var_dir / "demo-users.txt"
    added = []
    for user in demo_users(county):
        password = secrets.token_urlsafe(9)
        scope = {k: v for k, v in user.items() if k not in ("username", "role")}
        if add_user(
            database_url=needs_database_url(None, var_dir),
            username=user["username"],
            password=password,
            role=Role(user["role"]),
            **scope,
        ):
            added.append(f"{user['username']}\t{password}\t{user['role']}\t{scope}")
    if added:
        listing.touch(mode=0o600)
        with listing.open("a", encoding="utf-8") as out:
            out.write("".join(f"{line}\n" for line in added))


def _demo_password(var_dir: Path, username: str) -> str | None:
    listing = var_dir / "demo-users.txt"
    if not listing.exists():
        return None
    for line in listing.read_text(encoding="utf-8").splitlines():
        name, password, *_ = line.split("\t")
        if name == username:
            return password
    return None


def _print_where_to_look(stack: Stack, need_id: str | None, *, demo: bool) -> None:
    var_dir = stack.config.var_dir
    lines = ["", f"Console 控制台: {stack.url(CONSOLE)}", "", "Lianjie is up:"]
    for service in SERVICES:
        lines.append(f"  {service:<10} {stack.url(service)}/docs")
    lines.append(f"  nats       {stack.nats_plain_url} (users in {var_dir}/nats)")
    password = _demo_password(var_dir, "demo-social-worker") if demo else None
    if password:
        lines += [
            "",
            f"Demo users, one per role, and their passwords: {var_dir}/demo-users.txt",
            "Sign in as the demo social worker:",
            # The password stays in the file (mode 0600), out of this console and its logs.
            f"  TOKEN=$(curl -s -X POST {stack.url('needs')}/auth/token"
            ' -d username=demo-social-worker -d password=$(awk \'$1 == "demo-social-worker"'
            f" {{print $2}}' {var_dir}/demo-users.txt)"
            " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        ]
    else:
        lines += [
            "",
            "Add a user and get a token: lianjie users add NAME --role admin; "
            "lianjie users token NAME",
        ]
    if need_id:
        lines += [
            "",
            "Try the matcher on a demo need:",
            f"  curl -s -X POST {stack.url('needs')}/needs/{need_id}/matches"
            ' -H "Authorization: Bearer $TOKEN" | python3 -m json.tool',
        ]
    lines += ["", "Ctrl-C stops everything."]
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    app()
