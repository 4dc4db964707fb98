"""`lianjie pii …`: personal-data key rotation (docs/personal-data.md)."""

import typer
from rich.console import Console

from services.needs import privacy
from services.needs.settings import NeedsSettings
from services.resources import service as resources_service
from services.resources.settings import ResourcesSettings
from shared.crypto import PiiKeysMissing, configure_for_tool
from shared.db import create_db_engine, session_factory

pii_app = typer.Typer(help="Personal data: key rotation.", no_args_is_help=True)


@pii_app.command("reencrypt")
def reencrypt_command(
    needs_database_url: str | None = typer.Option(
        None, help="Needs database (default: LIANJIE_NEEDS_DATABASE_URL or var/needs.db)"
    ),
    resources_database_url: str | None = typer.Option(
        None, help="Resources database (default: LIANJIE_RESOURCES_DATABASE_URL or var/…)"
    ),
) -> None:
    """Re-encrypt every personal field under the current key and recompute the blind indexes.

    Run it after making a new key current (old keys must still be listed); afterwards the old
    key may be removed. Stop the services first when the index key changed.
    """
    console = Console(stderr=True)
    needs, resources = NeedsSettings(), ResourcesSettings()
    try:
        cipher = configure_for_tool(needs.common)
    except PiiKeysMissing as exc:
        console.print(f"[red]cannot re-encrypt:[/red] {exc}")
        raise typer.Exit(2) from None
    work = (
        ("needs", needs_database_url or needs.resolved_database_url(), privacy.reencrypt),
        (
            "resources",
            resources_database_url or resources.resolved_database_url(),
            resources_service.reencrypt_contacts,
        ),
    )
    for name, url, rewrite in work:
        engine = create_db_engine(url)
        try:
            with session_factory(engine).begin() as session:
                rows = rewrite(session=session)
        finally:
            engine.dispose()
        console.print(f"{name}: {rows} rows re-encrypted under key {cipher.current}")
