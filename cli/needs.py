"""`lianjie needs …`: work on the needs service's records from the command line.

Every command calls the running needs service over HTTP (`--url`, else LIANJIE_PORT_BASE as
`lianjie up` uses it; `--token`), so it passes the same rules, transactions and events as any
other client. Answers print as tables with Chinese labels; `--json` prints them for scripts.
Options sit after the command, the same ones in the same places: filters, `--limit/--offset`,
`--json`, `--url`, `--token`.

`import` uploads the ledger (POST /households/import) and follows the job's progress, so a
station imports remotely with its token. `import --offline` writes straight into a local needs
database through the same domain functions, for a station loading its ledger before the stack
runs (events wait in the outbox until the service relays them).
"""

import csv
import functools
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.connection import Connection, service_command
from cli.output import problem, show
from services.needs.app import MIGRATIONS
from services.needs.ledger_import import (
    HEADERS,
    ImportReport,
    Ledger,
    LedgerFormatError,
    Outcome,
    RowError,
    RowOutcome,
    import_ledger,
    read_ledger,
)
from services.needs.settings import NeedsSettings
from shared.actor import Actor
from shared.auth import Role
from shared.clock import china_today
from shared.crypto import PiiKeysMissing, configure_for_tool
from shared.db import create_db_engine, migrate, session_factory

needs_app = typer.Typer(help="Household files, cases and needs (the needs service's records).")
ERRORS_SHOWN = 20
_command = functools.partial(service_command, needs_app, "needs")
POLL_S = 0.5
LIMIT = typer.Option(50, min=1, help="Rows per page (the service caps it)")
OFFSET = typer.Option(0, min=0, help="Rows to skip")


@_command("import")
def import_command(
    connection: Connection,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Ledger (.csv or .xlsx)"),
    errors: Path | None = typer.Option(
        None, "--errors", help="Write every row error to this CSV (row, field, rule, message)"
    ),
    offline: bool = typer.Option(
        False, "--offline", help="Write into the local database, not through the service"
    ),
    database_url: str | None = typer.Option(
        None, help="With --offline: the needs database (default: var/needs.db)"
    ),
    actor: str = typer.Option("ledger-import", help="With --offline: who records are stamped with"),
) -> None:
    """Import a station's ledger (台账, docs/ledger-import.md) through the needs service, as
    the signed-in user of --token: new rows are created, changed ones updated, each row
    reported. --offline writes into a local database before the stack runs."""
    console = Console(stderr=True)
    try:
        ledger = read_ledger(file)
    except LedgerFormatError as exc:
        console.print(f"[red]cannot import {escape(file.name)}:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    if offline or database_url:
        report = _import_offline(console, file, ledger, database_url, actor)
    else:
        report = _import_remote(console, file, connection)
    if connection.as_json:
        show(_report_data(report), as_json=True)
    else:
        _print_report(console, report)
    if errors is not None:
        _write_errors(errors, report)
    if report.errors:
        raise typer.Exit(1)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _import_remote(console: Console, file: Path, connection: Connection) -> ImportReport:
    """POST the file, poll the job until it is done, read its rows into a report."""
    job = _call(connection, "POST", "/households/import", content=file.read_bytes(),
                file_name=file.name)  # fmt: skip
    with _progress(console) as progress:
        task = progress.add_task("rows", total=job["total"])
        while job["state"] == "running":
            time.sleep(POLL_S)
            job = _call(connection, "GET", f"/households/imports/{job['id']}")
            progress.update(task, completed=job["processed"])
    if job["state"] != "done":  # failed, or interrupted: the error says what to do
        state = escape(str(job["state"]))
        console.print(f"[red]the import {state}:[/red] {escape(str(job.get('error')))}")
        raise typer.Exit(2)
    report = ImportReport(rows=job["total"], ignored_columns=job["ignored_columns"])
    for row in job["rows"]:
        report.outcomes.append(
            RowOutcome(row["row"], Outcome(row["outcome"]), row["household_id"],
                       row["person_id"], tuple(row["fields"]))
        )  # fmt: skip
        report.errors += [
            RowError(row["row"], e["field"], e["rule"], e["message"]) for e in row["errors"]
        ]
    return report


def _import_offline(
    console: Console, file: Path, ledger: Ledger, database_url: str | None, actor: str
) -> ImportReport:
    settings = NeedsSettings()
    try:
        configure_for_tool(settings.common)
    except PiiKeysMissing as exc:
        console.print(f"[red]cannot import {escape(file.name)}:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    engine = create_db_engine(database_url or settings.resolved_database_url())
    try:
        migrate(engine, MIGRATIONS)
        with _progress(console) as progress:
            task = progress.add_task("rows", total=len(ledger.rows))
            return import_ledger(
                sessions=session_factory(engine),
                ledger=ledger,
                actor=Actor(actor, Role.ADMIN.value),
                on_row=lambda _outcome: progress.advance(task),
            )
    finally:
        engine.dispose()


@needs_app.command("template")
def template_command(
    file: Path = typer.Argument(..., dir_okay=False, help="Where to write the empty ledger"),
) -> None:
    """Write an empty ledger CSV with every header the import reads."""
    with file.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerow(HEADERS)  # docs/ledger-template.csv has example rows
    typer.echo(f"wrote {file}")


def _print_report(console: Console, report: ImportReport) -> None:
    counts = {o: report.count(o) for o in Outcome}
    console.print(
        f"共 {report.rows} 行 (rows): 新建 {counts[Outcome.CREATED]} (created), "
        f"更新 {counts[Outcome.UPDATED]} (updated), 未变 {counts[Outcome.UNCHANGED]} "
        f"(unchanged), 拒绝 {counts[Outcome.REFUSED]} (refused; {len(report.errors)} errors)"
    )
    if report.ignored_columns:
        console.print(escape(f"忽略的列 (columns ignored): {', '.join(report.ignored_columns)}"))
    for error in report.errors[:ERRORS_SHOWN]:
        # escape: rich would read "[rule]" as markup and swallow it
        console.print(
            escape(f"  第 {error.row} 行 (row): {error.field} [{error.rule}] {error.message}")
        )
    if len(report.errors) > ERRORS_SHOWN:
        console.print(f"  … {len(report.errors) - ERRORS_SHOWN} more (use --errors FILE)")


def _report_data(report: ImportReport) -> dict[str, Any]:
    """The report as `--json` prints it: counts by outcome, ignored columns, every row error."""
    counts = {o.value: report.count(o) for o in Outcome}
    errors = [{"row": e.row, "field": e.field, "rule": e.rule, "message": e.message}
              for e in report.errors]  # fmt: skip
    return {"rows": report.rows, **counts, "ignored_columns": report.ignored_columns,
            "errors": errors}  # fmt: skip


def _write_errors(path: Path, report: ImportReport) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "field", "rule", "message"])
        writer.writerows((e.row, e.field, e.rule, e.message) for e in report.errors)


def _call(
    connection: Connection,
    method: str,
    path: str,
    body: Any = None,
    content: bytes | None = None,
    **params: Any,
) -> Any:
    """One request to the needs service; a problem answer is printed and exits non-zero."""
    headers, base = connection.headers(), connection.url
    query = {k: v for k, v in params.items() if v is not None}
    try:
        with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
            response = client.request(method, path, json=body, content=content, params=query)
    except httpx.TransportError as exc:
        typer.echo(f"cannot reach the needs service at {base}: {type(exc).__name__}", err=True)
        raise typer.Exit(1) from None
    if response.is_error:
        try:
            problem(response.status_code, response.json())
        except ValueError:
            typer.echo(f"{response.status_code}: {response.text}", err=True)
        raise typer.Exit(1)
    return response.json()


HOUSEHOLD_COLUMNS = ("id", "address", "adcode", "hardship_categories", "social_worker", "version")
PERSON_COLUMNS = (
    "id", "household_id", "name", "resident_id", "is_head", "groups", "tier", "case_status",
    "next_visit_due",
)  # fmt: skip
NEED_COLUMNS = ("id", "household_id", "category", "urgency", "status", "created_at")


@_command("households")
def households_command(
    connection: Connection,
    station: str | None = typer.Option(None, help="Village, township or county code (prefix)"),
    hardship: str | None = typer.Option(None, help="困难类型: 低保, 特困 …"),
    group: str | None = typer.Option(None, help="人员类别: 独居老人 …"),
    tier: int | None = typer.Option(None),
    visit: str | None = typer.Option(None, help="due or overdue"),
    open_needs: bool | None = typer.Option(None, "--open-needs/--no-open-needs"),
    name: str | None = typer.Option(None, help="Exact name of a member"),
    id_number: str | None = typer.Option(
        None, help="Exact ID number of a member ('-': asked without echo)"
    ),
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> None:
    """List or find household files (一户一档) of your area."""
    filters = {"station": station, "hardship": hardship, "group": group, "tier": tier}
    filters |= {"visit": visit, "open_needs": open_needs}
    _list(connection, "households", filters, name, id_number, limit, offset)


@_command("persons")
def persons_command(
    connection: Connection,
    station: str | None = typer.Option(None, help="Village, township or county code (prefix)"),
    group: str | None = typer.Option(None, help="人员类别: 独居老人 …"),
    tier: int | None = typer.Option(None),
    case_status: str | None = typer.Option(None, help="applied, active or exited"),
    visit: str | None = typer.Option(None, help="due or overdue"),
    name: str | None = typer.Option(None, help="Exact name"),
    id_number: str | None = typer.Option(None, help="Exact ID number ('-': asked without echo)"),
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> None:
    """List or find persons (一人一案) of your area; ID numbers and phones masked."""
    filters = {"station": station, "group": group, "tier": tier, "case_status": case_status}
    filters |= {"visit": visit}
    _list(connection, "persons", filters, name, id_number, limit, offset)


def _list(
    connection: Connection,
    what: str,
    filters: dict[str, Any],
    name: str | None,
    id_number: str | None,
    limit: int,
    offset: int,
) -> None:
    """GET the list, or POST a search (names and ID numbers stay out of URLs)."""
    if id_number == "-":
        id_number = typer.prompt("ID number", hide_input=True)
    page = {"limit": limit, "offset": offset}
    if name is None and id_number is None:
        found = _call(connection, "GET", f"/{what}", None, None, **filters, **page)
    else:
        body = {k: v for k, v in filters.items() if v is not None}
        body |= {k: v for k, v in (("name", name), ("resident_id", id_number)) if v}
        found = _call(connection, "POST", f"/{what}/search", body, None, **page)
    columns = HOUSEHOLD_COLUMNS if what == "households" else PERSON_COLUMNS
    title = "户档" if what == "households" else "人员"
    show(found, as_json=connection.as_json, columns=columns, title=title)


@_command("needs")
def needs_command(
    connection: Connection,
    station: str | None = typer.Option(None, help="Village, township or county code (prefix)"),
    status: str | None = typer.Option(None, help="open, matching, referred …"),
    category: str | None = typer.Option(None, help="A category or its parent"),
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> None:
    """List the needs (需求) of your area."""
    found = _call(connection, "GET", "/needs", station=station, status=status, category=category,
        limit=limit, offset=offset,
    )  # fmt: skip
    show(found, as_json=connection.as_json, columns=NEED_COLUMNS, title="需求")


@_command("history")
def history_command(
    connection: Connection,
    record_id: str = typer.Argument(..., help="A household's or a person's id"),
    person: bool = typer.Option(False, "--person", help="The id is a person's"),
) -> None:
    """Who changed which fields of a household file or a person, and when."""
    path = f"/{'persons' if person else 'households'}/{record_id}/history"
    columns = ("version", "fields", "actor", "role", "source", "changed_at")
    show(
        _call(connection, "GET", path),
        as_json=connection.as_json,
        columns=columns,
        title="修改记录",
    )


@_command("household")
def household_command(
    connection: Connection,
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
) -> None:
    """Open a household file (一户一档)."""
    body: dict[str, Any] = {"address": address, "hardship_categories": hardship}
    body |= {"adcode": adcode, "station_adcode": station, "social_worker": social_worker}
    if lat is not None or lon is not None:
        body["location"] = {"lat": lat, "lon": lon, "crs": crs}
    made = _call(
        connection, "POST", "/households", {k: v for k, v in body.items() if v is not None}
    )
    show(made, as_json=connection.as_json)


@_command("person")
def person_command(
    connection: Connection,
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
    person = _call(connection, "POST", path, {k: v for k, v in body.items() if v is not None})
    if consent_date is not None:
        person = _call(connection, "POST", f"/persons/{person['id']}/status", {"status": "active"})
    show(person, as_json=connection.as_json)


@_command("visit")
def visit_command(
    connection: Connection,
    person_id: str = typer.Argument(...),
    social_worker: str | None = typer.Option(
        None, help="Who visited: you, unless a station lead records another's visit"
    ),
    on: str | None = typer.Option(None, help="Date of the visit (default today)"),
    findings: str = typer.Option("", help="What was found"),
    tier: str | None = typer.Option(None, help="The tier after this visit (1-5 or 一级…五级)"),
) -> None:
    """Record a home visit (入户探访); prints when the next one is due."""
    body: dict[str, Any] = {"visited_on": on or china_today().isoformat(), "findings": findings}
    if social_worker is not None:
        body["social_worker"] = social_worker
    if tier is not None:
        body["tier"] = tier
    show(
        _call(connection, "POST", f"/persons/{person_id}/visits", body), as_json=connection.as_json
    )


@_command("due")
def due_command(
    connection: Connection,
    station: str = typer.Option(..., help="Station code or a prefix of it"),
    within_days: int | None = typer.Option(None, help="Look this far ahead"),
) -> None:
    """List overdue and upcoming visits of a station."""
    show(
        _call(connection, "GET", "/visits/due", station=station, within_days=within_days),
        as_json=connection.as_json,
    )


@_command("need")
def need_command(
    connection: Connection,
    household_id: str = typer.Argument(...),
    category: str = typer.Argument(
        ..., help="Category code or label: elderly_care.meals, 助餐送餐"
    ),
    person_id: str | None = typer.Option(None, "--person"),
    description: str = typer.Option(""),
    urgency: int = typer.Option(3, help="1 = can wait, 5 = today"),
    quantity: int = typer.Option(1),
) -> None:
    """Record a need (需求) of a household or one of its persons."""
    body: dict[str, Any] = {"household_id": household_id, "category": category}
    body |= {"description": description, "urgency": urgency, "quantity": quantity}
    if person_id is not None:
        body["person_id"] = person_id
    show(_call(connection, "POST", "/needs", body), as_json=connection.as_json)


@_command("match")
def match_command(
    connection: Connection,
    need_id: str = typer.Argument(...),
    k: int | None = typer.Option(None, help="How many resources"),
) -> None:
    """Ask for ranked, explained resources for a need."""
    body = {"k": k} if k is not None else {}
    show(_call(connection, "POST", f"/needs/{need_id}/matches", body), as_json=connection.as_json)


@_command("stats")
def stats_command(
    connection: Connection,
    station: str = typer.Option(..., help="Station code or a prefix of it"),
    since: str | None = typer.Option(None, help="Start of the period (default 1 January)"),
) -> None:
    """A station's figures: files, visits, needs, links and outcomes."""
    show(
        _call(connection, "GET", "/stats", station=station, since=since), as_json=connection.as_json
    )
