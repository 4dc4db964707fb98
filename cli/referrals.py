"""`lianjie referrals`: the referral loop from the command line, over the needs HTTP API."""

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import typer

from cli.service_url import resolved, url_option
from cli.token_option import TOKEN, auth_headers

referrals_app = typer.Typer(help="Referrals (转介): match → referral → review → accept → outcome.")
LIMIT = typer.Option(50, min=1, help="Rows per page (the service caps it)")
OFFSET = typer.Option(0, min=0, help="Rows to skip")


@dataclass
class Target:
    url: str
    headers: dict[str, str]


@referrals_app.callback()
def main(
    ctx: typer.Context,
    url: str | None = url_option("needs"),
    token: str = TOKEN,
) -> None:
    """Work on referrals; every change is stamped with the signed-in user of --token.
    `--url` and `--token` go after the command, as in `lianjie needs …` (before it still works)."""
    ctx.obj = Target(url=resolved("needs", url), headers=auth_headers(token) if token else {})


def _with_connection(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command `--url` and `--token` of its own, so they sit after the command name as
    on every other command of the CLI; given there, they win over the group's."""
    signature = inspect.signature(command)
    extra = [
        inspect.Parameter(
            "url",
            inspect.Parameter.KEYWORD_ONLY,
            default=url_option("needs"),
            annotation=str | None,
        ),
        inspect.Parameter("token", inspect.Parameter.KEYWORD_ONLY, default=TOKEN, annotation=str),
    ]

    @functools.wraps(command)
    def run(ctx: typer.Context, *args: Any, url: str | None, token: str, **kwargs: Any) -> None:
        group: Target = ctx.obj
        ctx.obj = Target(
            url=resolved("needs", url) if url else group.url,
            headers=auth_headers(token) if token else group.headers,
        )
        command(ctx, *args, **kwargs)

    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra]
    )
    return run


def _command(name: str | None = None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """`referrals_app.command`, with the connection options of `_with_connection`."""

    def register(command: Callable[..., None]) -> Callable[..., None]:
        referrals_app.command(name)(_with_connection(command))
        return command

    return register


def _call(
    ctx: typer.Context, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    target: Target = ctx.obj
    try:
        response = httpx.request(
            method, f"{target.url}{path}", json=body, headers=target.headers, timeout=15
        )
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {target.url}: {type(exc).__name__}", err=True)
        raise typer.Exit(2) from exc
    data: dict[str, Any] = response.json() if response.content else {}
    if response.status_code >= 400:
        typer.echo(
            f"{response.status_code} {data.get('title', '')}: {data.get('detail', '')}", err=True
        )
        for error in data.get("errors", []):
            typer.echo(f"  {error['field']}: {error['rule']} ({error['message']})", err=True)
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


def _show(referral: dict[str, Any]) -> None:
    flags = " OVERDUE" if referral.get("overdue") else ""
    typer.echo(
        f"referral {referral['id']}: {referral['state']}{flags} → {referral['resource_name']} "
        f"(next: {', '.join(referral['allowed']) or 'none'})"
    )


@_command()
def create(
    ctx: typer.Context,
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
        matches = _call(ctx, "POST", f"/needs/{need_id}/matches", {})
        if not matches["results"]:
            typer.echo("no matches for this need: give --resource, --kind, --name and --reason")
            raise typer.Exit(1)
        resource = str(matches["results"][0]["resource_id"])
    body: dict[str, Any] = {"need_id": need_id, "resource_id": resource, "note": note}
    optional = {"override_reason": reason, "resource_kind": kind, "resource_name": name}
    body.update({k: v for k, v in optional.items() if v is not None})
    body.update({"for_minor": minor, "amount_yuan": amount, "review_departments": department})
    _show(_call(ctx, "POST", "/referrals", body))


@_command()
def show(ctx: typer.Context, referral_id: str) -> None:
    """Print a referral as JSON."""
    typer.echo(
        json.dumps(_call(ctx, "GET", f"/referrals/{referral_id}"), ensure_ascii=False, indent=2)
    )


@_command()
def review(
    ctx: typer.Context,
    referral_id: str,
    department: str = typer.Option(..., help="Your department"),
    approve: bool = typer.Option(True, "--approve/--return", help="Approve, or return it"),
    comment: str | None = typer.Option(None, help="Required to return"),
) -> None:
    """Approve, or return with a comment, on behalf of one department."""
    body = {"department": department, "decision": "approve" if approve else "return"}
    _move(ctx, referral_id, "review", {**body, "comment": comment})


@_command()
def queue(
    ctx: typer.Context,
    department: str | None = typer.Option(None, help="Your department"),
    region: str | None = typer.Option(None, help="Division code prefix, e.g. 511523"),
    limit: int = LIMIT,
    offset: int = OFFSET,
) -> None:
    """Referrals waiting for review."""
    wanted = {"department": department, "region": region, "limit": limit, "offset": offset}
    params = "&".join(f"{k}={v}" for k, v in wanted.items() if v is not None)
    page = _call(ctx, "GET", f"/referrals/review-queue?{params}")
    for referral in page["items"]:
        _show(referral)
    typer.echo(f"{page['total']} waiting for review")


@_command()
def decline(
    ctx: typer.Context,
    referral_id: str,
    reason: str = typer.Option(
        ..., help="no_capacity, not_eligible, out_of_area, unreachable, other"
    ),
) -> None:
    """Decline on the resource's behalf."""
    _move(ctx, referral_id, "decline", {"reason": reason})


@_command()
def complete(
    ctx: typer.Context,
    referral_id: str,
    result: str = typer.Option(..., help="met, partly_met or not_met"),
    satisfaction: int | None = typer.Option(None, min=1, max=5, help="居民满意度 1–5"),
    feedback: str | None = typer.Option(None, help="The resident's feedback"),
) -> None:
    """Record the outcome (a met need closes)."""
    body = {"result": result, "satisfaction": satisfaction, "feedback": feedback}
    _move(ctx, referral_id, "complete", body)


def _move(
    ctx: typer.Context, referral_id: str, action: str, body: dict[str, Any] | None = None
) -> None:
    """POST /referrals/{id}/<action> and show the referral as it now is."""
    _show(_call(ctx, "POST", f"/referrals/{referral_id}/{action}", body))


def _transition_command(action: str, doc: str, *, reasons: str | None = None) -> None:
    """Register `referrals <action> REFERRAL_ID`, which moves the referral on. With `reasons`
    (the codes, for --help) it ends the referral: --reason and --comment make the body."""

    def move(ctx: typer.Context, referral_id: str) -> None:
        _move(ctx, referral_id, action)

    def end(
        ctx: typer.Context,
        referral_id: str,
        reason: str = typer.Option("other", help=reasons),
        comment: str | None = typer.Option(None),
    ) -> None:
        _move(ctx, referral_id, action, {"reason": reason, "comment": comment})

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
def overdue(ctx: typer.Context, limit: int = LIMIT, offset: int = OFFSET) -> None:
    """Referrals not reviewed or not accepted in time."""
    page = _call(ctx, "GET", f"/referrals/overdue?limit={limit}&offset={offset}")
    for line in page["items"]:
        typer.echo(
            f"{line['referral_id']}: waiting for {line['waiting_for']} "
            f"{line['overdue_hours']:.1f} h past due{' (escalated)' if line['escalated'] else ''}"
        )
    typer.echo(f"{page['total']} overdue")
