"""`lianjie needs …`: work on the needs service's records from the command line.

Day-to-day commands (`household`, `person`, `visit`, `due`, `need`, `match`, `stats`) call the
running needs service over HTTP, so they pass the same rules, transactions and events as any
other client, and `match` can reach the matcher over NATS through it.

`import` writes straight into the needs database through the same domain functions the API
calls (`services.needs.ledger_import` → `service`/`persons`), not through HTTP: a 10,000-row
ledger then takes seconds rather than 10,000 round trips, each row still gets its own
transaction, and a station can load its ledger before the stack runs. The database is migrated
first; events the rows raise (tier changes) wait in the outbox until the service relays them.
"""

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.token_option import TOKEN, auth_headers
from services.needs.app import MIGRATIONS
from services.needs.ledger_import import (
    HEADERS,
    ImportReport,
    LedgerFormatError,
    import_ledger,
    read_ledger,
)
from services.needs.settings import NeedsSettings
from shared.crypto import PiiKeysMissing, configure_for_tool
from shared.db import create_db_engine, migrate, session_factory

needs_app = typer.Typer(help="Household files, cases and needs (the needs service's records).")
ERRORS_SHOWN = 20
URL = typer.Option("http://127.0.0.1:8001", envvar="LIANJIE_NEEDS_URL", help="Needs service")


@needs_app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Ledger (.csv or .xlsx)"),
    database_url: str | None = typer.Option(
        None, help="Needs database (default: LIANJIE_NEEDS_DATABASE_URL or var/needs.db)"
    ),
    errors: Path | None = typer.Option(
        None, "--errors", help="Write every row error to this CSV (row, field, rule, message)"
    ),
    actor: str = typer.Option("ledger-import", help="Who the records are stamped with"),
) -> None:
    """Import a household ledger (台账); rows that break a rule are reported, not imported."""
    console = Console(stderr=True)
    try:
        ledger = read_ledger(file)
    except LedgerFormatError as exc:
        console.print(f"[red]cannot import {file.name}:[/red] {exc}")
        raise typer.Exit(2) from None
    settings = NeedsSettings()
    try:
        configure_for_tool(settings.common)
    except PiiKeysMissing as exc:
        console.print(f"[red]cannot import {file.name}:[/red] {exc}")
        raise typer.Exit(2) from None
    engine = create_db_engine(database_url or settings.resolved_database_url())
    try:
        migrate(engine, MIGRATIONS)
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("rows", total=len(ledger.rows))
            report = import_ledger(
                sessions=session_factory(engine),
                ledger=ledger,
                actor=actor,
                on_row=lambda: progress.advance(task),
            )
    finally:
        engine.dispose()
    _print_report(console, report)
    if errors is not None:
        _write_errors(errors, report)
    if report.errors:
        raise typer.Exit(1)


@needs_app.command("template")
def template_command(
    file: Path = typer.Argument(..., dir_okay=False, help="Where to write the empty ledger"),
) -> None:
    """Write an empty ledger CSV with every header the import reads."""
    with file.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerow(HEADERS)
    typer.echo(f"wrote {file}")


def _print_report(console: Console, report: ImportReport) -> None:
    console.print(
        f"{report.imported} of {report.rows} households imported; "
        f"{report.failed_rows} rows refused ({len(report.errors)} errors)"
    )
    if report.ignored_columns:
        console.print(f"columns ignored: {', '.join(report.ignored_columns)}")
    for error in report.errors[:ERRORS_SHOWN]:
        console.print(f"  row {error.row}: {error.field} [{error.rule}] {error.message}")
    if len(report.errors) > ERRORS_SHOWN:
        console.print(f"  … {len(report.errors) - ERRORS_SHOWN} more (use --errors FILE)")


def _write_errors(path: Path, report: ImportReport) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "field", "rule", "message"])
        writer.writerows((e.row, e.field, e.rule, e.message) for e in report.errors)


def _call(url: str, method: str, path: str, token: str, body: Any = None, **params: Any) -> Any:
    """One request to the needs service; a problem answer is printed and exits non-zero."""
    headers = auth_headers(token)
    query = {k: v for k, v in params.items() if v is not None}
    try:
        with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
            response = client.request(method, path, json=body, params=query)
    except httpx.TransportError as exc:
        typer.echo(f"cannot reach the needs service at {url}: {type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    if response.is_error:
        typer.echo(json.dumps(response.json(), ensure_ascii=False, indent=2), err=True)
        raise typer.Exit(1)
    return response.json()


def _show(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


@needs_app.command("household")
def household_command(
    address: str = typer.Argument(..., help="As written, e.g. 江安县江安镇红星村3组12号"),
    adcode: str | None = typer.Option(
        None, help="Division code; resolved from the address if omitted"
    ),
    station: str | None = typer.Option(None, help="The station's township code"),
    hardship: list[str] = typer.Option([], help="困难类型, repeatable: 低保, 特困 …"),
    lat: float | None = typer.Option(None),
    lon: float | None = typer.Option(None),
    crs: str = typer.Option("wgs84", help="wgs84, gcj02 (高德/腾讯) or bd09 (百度)"),
    social_worker: str | None = typer.Option(None),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Open a household file (一户一档)."""
    body: dict[str, Any] = {"address": address, "hardship_categories": hardship}
    body |= {"adcode": adcode, "station_adcode": station, "social_worker": social_worker}
    if lat is not None or lon is not None:
        body["location"] = {"lat": lat, "lon": lon, "crs": crs}
    _show(
        _call(url, "POST", "/households", token, {k: v for k, v in body.items() if v is not None})
    )


@needs_app.command("person")
def person_command(
    household_id: str = typer.Argument(...),
    name: str = typer.Argument(...),
    id_number: str | None = typer.Option(
        None, help="Resident ID; asked for without echo when given as '-'"
    ),
    phone: str | None = typer.Option(None),
    group: list[str] = typer.Option([], help="人员类别, repeatable: 独居老人, 残疾人 …"),
    disability_grade: int | None = typer.Option(None),
    tier: str | None = typer.Option(
        None, help="Service tier 1-5 or 一级…五级 (1 = most intensive)"
    ),
    head: bool = typer.Option(False, "--head", help="The head of the household (户主)"),
    consent_date: str | None = typer.Option(
        None, help="Date of informed consent to the case file; the case then becomes active"
    ),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Add a person and their case (一人一案); with consent the case is activated."""
    if id_number == "-":
        id_number = typer.prompt("ID number", hide_input=True)
    body: dict[str, Any] = {"name": name, "groups": group, "is_head": head}
    body |= {"resident_id": id_number, "phone": phone, "disability_grade": disability_grade}
    body |= {"tier": tier}
    if consent_date is not None:
        body["consent"] = {"given_on": consent_date, "scope": ["case_file"]}
    path = f"/households/{household_id}/persons"
    person = _call(url, "POST", path, token, {k: v for k, v in body.items() if v is not None})
    if consent_date is not None:
        person = _call(url, "POST", f"/persons/{person['id']}/status", token, {"status": "active"})
    _show(person)


@needs_app.command("visit")
def visit_command(
    person_id: str = typer.Argument(...),
    social_worker: str = typer.Option(..., help="Who visited"),
    on: str | None = typer.Option(None, help="Date of the visit (default today)"),
    findings: str = typer.Option("", help="What was found"),
    tier: str | None = typer.Option(None, help="The tier after this visit (1-5 or 一级…五级)"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Record a home visit (入户探访); prints when the next one is due."""
    body: dict[str, Any] = {
        "visited_on": on or date.today().isoformat(),
        "social_worker": social_worker,
        "findings": findings,
    }
    if tier is not None:
        body["tier"] = tier
    _show(_call(url, "POST", f"/persons/{person_id}/visits", token, body))


@needs_app.command("due")
def due_command(
    station: str = typer.Option(..., help="Station code or a prefix of it"),
    within_days: int | None = typer.Option(None, help="Look this far ahead"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """List overdue and upcoming visits of a station."""
    _show(_call(url, "GET", "/visits/due", token, station=station, within_days=within_days))


@needs_app.command("need")
def need_command(
    household_id: str = typer.Argument(...),
    category: str = typer.Argument(
        ..., help="Category code or label: elderly_care.meals, 助餐送餐"
    ),
    person_id: str | None = typer.Option(None, "--person"),
    description: str = typer.Option(""),
    urgency: int = typer.Option(3, help="1 = can wait, 5 = today"),
    quantity: int = typer.Option(1),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Record a need (需求) of a household or one of its persons."""
    body: dict[str, Any] = {"household_id": household_id, "category": category}
    body |= {"description": description, "urgency": urgency, "quantity": quantity}
    if person_id is not None:
        body["person_id"] = person_id
    _show(_call(url, "POST", "/needs", token, body))


@needs_app.command("match")
def match_command(
    need_id: str = typer.Argument(...),
    k: int | None = typer.Option(None, help="How many resources"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """Ask for ranked, explained resources for a need."""
    body = {"k": k} if k is not None else {}
    _show(_call(url, "POST", f"/needs/{need_id}/matches", token, body))


@needs_app.command("stats")
def stats_command(
    station: str = typer.Option(..., help="Station code or a prefix of it"),
    since: str | None = typer.Option(None, help="Start of the period (default 1 January)"),
    url: str = URL,
    token: str = TOKEN,
) -> None:
    """A station's figures: files, visits, needs, links and outcomes."""
    _show(_call(url, "GET", "/stats", token, station=station, since=since))
