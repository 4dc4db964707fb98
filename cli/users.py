"""`lianjie users …`: add users who sign in, disable, enable or delete them, set a password, and
mint a token for one (operators only: these commands write the needs database and read the
signing key directly)."""

import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from services.needs.app import MIGRATIONS
from services.needs.settings import NeedsSettings
from services.needs.users import service
from shared.auth import Role, issue_token
from shared.db import create_db_engine, migrate, session_factory
from shared.errors import DomainError
from shared.settings import CommonSettings

users_app = typer.Typer(help="Users who sign in: roles and scopes.")
DATABASE = typer.Option(None, help="Needs database (default: LIANJIE_NEEDS_DATABASE_URL)")
VAR_DIR = typer.Option(Path("var"), help="Where `lianjie up` keeps its files and keys")


def needs_database_url(database_url: str | None, var_dir: Path) -> str:
    settings = NeedsSettings(common=CommonSettings(var_dir=var_dir))
    return database_url or settings.resolved_database_url()


def add_user(
    *,
    database_url: str,
    username: str,
    password: str,
    role: Role,
    adcode: str | None = None,
    organization: str | None = None,
    department: str | None = None,
    county: str | None = None,
) -> bool:
    """Create a user (migrating the database first); False when the name is taken. A reviewer
    without an adcode needs the deployment's `county` (LIANJIE_NEEDS_COUNTY_ADCODE)."""
    engine = create_db_engine(database_url)
    try:
        migrate(engine, MIGRATIONS)
        with session_factory(engine).begin() as session:
            if service.get_by_username(session=session, username=username) is not None:
                return False
            service.create(
                session=session,
                username=username,
                password=password,
                role=role,
                adcode=adcode,
                organization=organization,
                department=department,
                county=county,
            )
        return True
    finally:
        engine.dispose()


def change_user(*, database_url: str, change: Callable[[Session], object]) -> None:
    """Run `change` on the needs database in one transaction (migrating it first). Changes that
    end a user's tokens queue their revocation in the outbox: the running needs service
    publishes it within a second or so, and every service refuses the tokens from then on."""
    engine = create_db_engine(database_url)
    try:
        migrate(engine, MIGRATIONS)
        with session_factory(engine).begin() as session:
            change(session)
    finally:
        engine.dispose()


def mint_token(*, database_url: str, username: str, private_key: Path, ttl: timedelta) -> str:
    """A token for an existing user, signed with the private key (what sign-in issues)."""
    engine = create_db_engine(database_url)
    try:
        with session_factory(engine)() as session:
            user = service.get_by_username(session=session, username=username)
            if user is None or not user.active:
                raise LookupError(f"no active user {username}")
            principal = service.principal_of(user)
    finally:
        engine.dispose()
    return issue_token(principal=principal, private_pem=private_key.read_bytes(), ttl=ttl)


@users_app.command("add")
def add_command(
    username: str = typer.Argument(..., help="User name to sign in with"),
    role: Role = typer.Option(..., help="social_worker, station_lead, county_hub, …"),
    adcode: str | None = typer.Option(
        None, help="Station or county adcode (prefix); a reviewer's region"
    ),
    organization: str | None = typer.Option(None, help="A coordinator's organization"),
    department: str | None = typer.Option(None, help="A reviewer's department"),
    password: str | None = typer.Option(
        None, help="Default: a random one, printed once", show_default=False
    ),
    database_url: str | None = DATABASE,
    var_dir: Path = VAR_DIR,
) -> None:
    """Add a user; prints the password when it was generated."""
    chosen = password or secrets.token_urlsafe(12)
    try:
        added = add_user(
            database_url=needs_database_url(database_url, var_dir),
            username=username,
            password=chosen,
            role=role,
            adcode=adcode,
            organization=organization,
            department=department,
            county=NeedsSettings().county_adcode,
        )
    except DomainError as exc:
        typer.echo(f"cannot add {username}: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    if not added:
        typer.echo(f"user {username} exists already", err=True)
        raise typer.Exit(1)
    typer.echo(f"added {username} ({role.value})")
    if password is None:
        typer.echo(f"password: {chosen}")


@users_app.command("token")
def token_command(
    username: str = typer.Argument(..., help="An existing user"),
    ttl_s: int = typer.Option(900, min=30, max=86_400, help="Seconds the token lives"),
    private_key: Path | None = typer.Option(
        None,
        envvar="LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE",
        help="Signing key (default: <var-dir>/keys/signing-key.pem)",
    ),
    database_url: str | None = DATABASE,
    var_dir: Path = VAR_DIR,
) -> None:
    """Print a token for USERNAME (e.g. `export LIANJIE_TOKEN=$(lianjie users token li)`)."""
    key = private_key or var_dir / "keys" / "signing-key.pem"
    if not key.exists():
        typer.echo(
            f"no signing key at {key}: run `lianjie up` once, or pass --private-key", err=True
        )
        raise typer.Exit(2)
    try:
        token = mint_token(
            database_url=needs_database_url(database_url, var_dir),
            username=username,
            private_key=key,
            ttl=timedelta(seconds=ttl_s),
        )
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(token)


def _apply(username: str, change: Callable[[Session], object], done: str, database: str) -> None:
    try:
        change_user(database_url=database, change=change)
    except DomainError as exc:
        typer.echo(f"cannot change {username}: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(done)


@users_app.command("disable")
def disable_command(
    username: str = typer.Argument(..., help="An existing user"),
    database_url: str | None = DATABASE,
    var_dir: Path = VAR_DIR,
) -> None:
    """Disable USERNAME: no more sign-in, and every token and session of theirs ends."""
    _apply(
        username,
        lambda s: service.set_active(session=s, username=username, active=False),
        f"disabled {username}; their tokens end within seconds",
        needs_database_url(database_url, var_dir),
    )


@users_app.command("enable")
def enable_command(
    username: str = typer.Argument(..., help="An existing user"),
    database_url: str | None = DATABASE,
    var_dir: Path = VAR_DIR,
) -> None:
    """Enable USERNAME again (they sign in anew; ended tokens stay ended)."""
    _apply(
        username,
        lambda s: service.set_active(session=s, username=username, active=True),
        f"enabled {username}",
        needs_database_url(database_url, var_dir),
    )


@users_app.command("delete")
def delete_command(
    username: str = typer.Argument(..., help="An existing user"),
    database_url: str | None = DATABASE,
    var_dir: Path = VAR_DIR,
) -> None:
    """Delete USERNAME; every token and session of theirs ends."""
    _apply(
        username,
        lambda s: service.delete(session=s, username=username),
        f"deleted {username}; their tokens end within seconds",
        needs_database_url(database_url, var_dir),
    )


@users_app.command("password")
def password_command(
    username: str = typer.Argument(..., help="An existing user"),
    password: str | None = typer.Option(
        None, help="Default: a random one, printed once", show_default=False
    ),
    database_url: str | None = DATABASE,
    var_dir: Path = VAR_DIR,
) -> None:
    """Set USERNAME's password; every token and session of theirs ends."""
    chosen = password or secrets.token_urlsafe(12)
    _apply(
        username,
        lambda s: service.change_password(session=s, username=username, password=chosen),
        f"new password set for {username}; their tokens end within seconds",
        needs_database_url(database_url, var_dir),
    )
    if password is None:
        typer.echo(f"password: {chosen}")
