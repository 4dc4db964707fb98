"""`lianjie resources`: bulk import and export of the resource library.

The commands talk to the running resources service over HTTP rather than to its database:
the service owns its tables (SQLite or PostgreSQL, maybe on another host), checks every rule
in one place, and publishes each change to the matcher at once through its outbox relay.
The file is read here, so a bad file is reported before anything is sent, and rows go in
batches so the progress bar moves as rows are stored.
"""

from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.connection import Connection, service_command
from cli.output import show
from services.resources.importing import (
    FileFormat,
    ImportReport,
    ImportRow,
    RowOutcome,
    read_rows,
)
from shared.errors import ValidationFailed

SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".json": "hsds-json",
    ".zip": "hsds-zip",
}

resources_app = typer.Typer(help="The resource library (资源库): import and export.")
console = Console()


@service_command(resources_app, "resources", "import")
def import_command(
    connection: Connection,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, HSDS JSON or zip"),
    batch_size: int = typer.Option(50, min=1, max=500, help="Rows sent per request"),
) -> None:
    """Import resources; every row is accepted, updated, flagged or rejected with reasons."""
    try:
        rows = read_rows(file.read_bytes(), SUFFIXES.get(file.suffix.lower()))
    except ValidationFailed as exc:
        console.print(f"[red]{escape(str(file))}: {escape(exc.detail)}[/red]")
        raise typer.Exit(2) from exc
    try:
        report = _send(rows, connection.url, batch_size, connection.headers())
    except httpx.HTTPError as exc:
        where = escape(connection.url)
        console.print(f"[red]cannot reach the resources service at {where}: {type(exc).__name__}")
        raise typer.Exit(2) from exc
    if connection.as_json:
        show(report.model_dump(mode="json"), as_json=True)
    else:
        _print_report(report)
    if report.rejected:
        raise typer.Exit(1)


def _send(
    rows: list[ImportRow], url: str, batch_size: int, headers: dict[str, str]
) -> ImportReport:
    report = ImportReport()
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        httpx.Client(base_url=url, timeout=120, headers=headers) as client,
        Progress(*columns, console=console) as bar,
    ):
        task = bar.add_task("rows", total=len(rows))
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            response = client.post(
                "/resources/import/rows", json=[r.model_dump(mode="json") for r in batch]
            )
            if response.status_code != 200:
                answered = f"[red]the service answered {response.status_code}:[/red]"
                console.print(f"{answered} {escape(response.text)}")
                raise typer.Exit(2)
            for outcome in ImportReport.model_validate(response.json()).rows:
                report.add(outcome)
            bar.advance(task, len(batch))
    return report


def _print_report(report: ImportReport) -> None:
    for row in report.rows:
        if row.status in ("rejected", "flagged", "draft"):
            for field, rule, detail in _reasons(row):
                line = f"{row.ref}: {row.status.value} {field} [{rule}] {detail}"
                console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"{report.total} rows: {report.accepted} accepted, {report.updated} updated, "
        f"{report.flagged} flagged as possible duplicates, {report.draft} drafts to complete, "
        f"{report.rejected} rejected",
        soft_wrap=True,
    )


def _reasons(row: RowOutcome) -> list[tuple[str, str, str]]:
    if row.status == "flagged":
        return [("", "possible_duplicate", f"looks like resource {row.duplicate_of}")]
    if row.status == "draft":  # from another directory: inactive until a coordinator completes it
        suggested = ", ".join(row.suggested_categories) or "none"
        detail = f"to complete before matching (suggested categories: {suggested})"
        return [(field, "missing", detail) for field in row.missing]
    return [(e.field, e.rule, e.message) for e in row.errors]


@service_command(resources_app, "resources", "export")
def export_command(
    connection: Connection,
    output: Path = typer.Argument(..., dir_okay=False, help="File to write"),
    format: str = typer.Option(
        "", "--format", help="csv, xlsx, hsds-json or hsds-zip (default: from the file's suffix)"
    ),
) -> None:
    """Export every resource as the CSV template, HSDS 3.1 JSON, or a zipped HSDS package."""
    chosen = format or SUFFIXES.get(output.suffix.lower(), "hsds-json")
    if chosen not in SUFFIXES.values():
        console.print(f"[red]unknown format {chosen!r}: use csv, xlsx, hsds-json or hsds-zip")
        raise typer.Exit(2)
    try:
        response = httpx.get(
            f"{connection.url}/resources/export",
            params={"format": chosen},
            headers=connection.headers(),
            timeout=120,
        )
    except httpx.HTTPError as exc:
        where = escape(connection.url)
        console.print(f"[red]cannot reach the resources service at {where}: {type(exc).__name__}")
        raise typer.Exit(2) from exc
    if response.status_code != 200:
        console.print(
            f"[red]the service answered {response.status_code}:[/red] {escape(response.text)}"
        )
        raise typer.Exit(2)
    output.write_bytes(response.content)
    written = {"file": str(output), "format": chosen, "bytes": len(response.content)}
    if connection.as_json:
        show(written, as_json=True)
    else:
        console.print(f"wrote {escape(str(output))} ({chosen}, {len(response.content)} bytes)")
