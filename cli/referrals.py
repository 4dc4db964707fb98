"""`lianjie referrals`: the referral loop from the command line, over the needs HTTP API."""

import functools
from typing import Any

import httpx
import typer

from cli import output
from cli.connection import Connection, service_command

referrals_app = typer.Typer(
    help="Referrals (转介): match → referral → review → accept → outcome. Every change is "
    "stamped with the signed-in user of --token; --json, --url and --token follow the command."
)
LIMIT = typer.Option(50, min=1, help="Rows per page (the service caps it)")
OFFSET = typer.Option(0, min=0, help="Rows to skip")
_command = functools.partial(service_command, referrals_app, "needs")


def _call(
    connection: Connection, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    try:
        response = httpx.request(
            method, f"{connection.url}{path}", json=body, headers=connection.headers(), timeout=15
        )
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {connection.url}: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from exc
    data: dict[str, Any] = response.json() if response.content else {}
    if response.status_code >= 400:
        output.problem(response.status_code, data)
        if data.get("allowed") is not None:
            typer.echo(f"  allowed next: {', '.join(data['allowed']) or 'none'}", err=True)
        if data.get("reason") == "no_capacity":
            _print_next_match(data)
        raise typer.Exit(1)
    return data


def _print_next_match(problem: dict[str, Any]) -> None:
    match = problem.get("next_match")
    if match:
        typer.echo(
            f"next match: {match['resource_id']} {match['name']} "
            f"(score {match['score']:.2f}, {match['distance_km']:.1f} km)"
        )
        typer.echo(f"NEXT_MATCH={match['resource_id']}")
    else:
        typer.echo(f"no next match ({problem.get('next_match_error') or 'none left'})")


def _show(connection: Connection, referral: dict[str, Any]) -> None:
    if connection.as_json:
        output.show(referral, as_json=True)
        return
    flags = " OVERDUE" if referral.get("overdue") else ""
    typer.echo(
        f"referral {referral['id']}: {referral['state']}{flags} → {referral['resource_name']} "
        f"(next: {', '.join(referral['allowed']) or 'none'})"
    )


@_command()
def create(
    connection: Connection,
    need_id: str = typer.Argument(..., help="The need to refer"),
    resource: str | None = typer.Option(None, help="Resource id; default: the top match"),
    note: str = typer.Option("", help="Your note to the resource"),
    reason: str | None = typer.Option(None, help="Why not the top match (required then)"),
    kind: str | None = typer.Option(None, help="Kind of a resource that is not a match"),
    name: str | None = typer.Option(None, help="Name of a resource that is not a match"),
    minor: bool = typer.Option(False, help="The person served is under 18"),
    amount: int | None = typer.Option(None, help="Money involved, in yuan"),
    department: list[str] = typer.Option([], help="A department that must sign off (repeat)"),
) -> None:
    """Refer a need to a resource (its top match unless --resource)."""
    if resource is None:
        matches = _call(connection, "POST", f"/needs/{need_id}/matches", {})
        if not matches["results"]:
            typer.echo("no matches for this need: give --resource, --kind, --name and --reason")
            raise typer.Exit(1)
        resource = str(matches["results"][0]["resource_id"])
    body: dict[str, Any] = {"need_id": need_id, "resource_id": resource, "note": note}
    optional = {"override_reason": reason, "resource_kind": kind, "resource_name": name}
    body.update({k: v for k, v in optional.items() if v is not None})
    body.update({"for_minor": minor, "amount_yuan": amount, "review_departments": department})
    _show(connection, _call(connection, "POST", "/referrals", body))


@_command()
def show(connection: Connection, referral_id: str) -> None:
    """Print a referral: label and value lines (--json: as JSON)."""
    output.show(_call(connection, "GET", f"/referrals/{referral_id}"), as_json=connection.as_json)


@_command()
def review(
    connection: Connection,
    referral_id: str,
    department: str = typer.Option(..., help="Your department"),
    approve: bool = typer.Option(True, "--approve/--return", help="Approve, or return it"),
    comment: str | None = typer.Option(None, help="Required to return"),
) -> None:
    """Approve, or return with a comment, on behalf of one department."""
    body = {"department": department, "decision": "approve" if approve else "return"}
    _move(connection, referral_id, "review", {**body, "comment": comment})


@_command()
def queue(
    connection: Connection,
    department: str | None = typer.Option(None, help="Your department"),
    region: str | None = typer.Option(None, help="Division code prefix, e.g. 511523"),
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> None:
    """Referrals waiting for review."""
    wanted = {"department": department, "region": region, "limit": limit, "offset": offset}
    params = "&".join(f"{k}={v}" for k, v in wanted.items() if v is not None)
    page = _call(connection, "GET", f"/referrals/review-queue?{params}")
    if connection.as_json:
        output.show(page, as_json=True)
        return
    for referral in page["items"]:
        _show(connection, referral)
    typer.echo(f"{page['total']} waiting for review")


@_command()
def decline(
    connection: Connection,
    referral_id: str,
    reason: str = typer.Option(
        ..., help="no_capacity, not_eligible, out_of_area, unreachable, other"
    ),
) -> None:
    """Decline on the resource's behalf."""
    _move(connection, referral_id, "decline", {"reason": reason})


@_command()
def complete(
    connection: Connection,
    referral_id: str,
    result: str = typer.Option(..., help="met, partly_met or not_met"),
    satisfaction: int | None = typer.Option(None, min=1, max=5, help="居民满意度 1–5"),
    feedback: str | None = typer.Option(None, help="The resident's feedback"),
) -> None:
    """Record the outcome (a met need closes)."""
    body = {"result": result, "satisfaction": satisfaction, "feedback": feedback}
    _move(connection, referral_id, "complete", body)


def _move(
    connection: Connection, referral_id: str, action: str, body: dict[str, Any] | None = None
) -> None:
    """POST /referrals/{id}/<action> and show the referral as it now is."""
    _show(connection, _call(connection, "POST", f"/referrals/{referral_id}/{action}", body))


def _transition_command(action: str, doc: str, *, reasons: str | None = None) -> None:
    """Register `referrals <action> REFERRAL_ID`, which moves the referral on. With `reasons`
    (the codes, for --help) it ends the referral: --reason and --comment make the body."""

    def move(connection: Connection, referral_id: str) -> None:
        _move(connection, referral_id, action)

    def end(
        connection: Connection,
        referral_id: str,
        reason: str = typer.Option("other", help=reasons),
        comment: str | None = typer.Option(None),
    ) -> None:
        _move(connection, referral_id, action, {"reason": reason, "comment": comment})

    command = move if reasons is None else end
    command.__doc__ = doc
    _command(action)(command)


_transition_command("submit", "Submit a draft, or a returned referral again.")
_transition_command(
    "accept", "Accept on the resource's behalf: reserves its capacity (or shows the next match)."
)
_transition_command("start", "Service delivery has begun.")
_transition_command(
    "cancel",
    "Cancel an open referral (capacity it held is released).",
    reasons="withdrawn_by_resident, duplicate, …, other",
)
_transition_command(
    "fail",
    "Service could not be delivered (capacity is released).",
    reasons="resource_unavailable, …, other",
)


@_command()
def overdue(connection: Connection, limit: int = LIMIT, offset: int = OFFSET) -> None:
    """Referrals not reviewed or not accepted in time."""
    page = _call(connection, "GET", f"/referrals/overdue?limit={limit}&offset={offset}")
    if connection.as_json:
        output.show(page, as_json=True)
        return
    for line in page["items"]:
        typer.echo(
            f"{line['referral_id']}: waiting for {line['waiting_for']} "
            f"{line['overdue_hours']:.1f} h past due{' (escalated)' if line['escalated'] else ''}"
        )
    typer.echo(f"{page['total']} overdue")
