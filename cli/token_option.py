"""The sign-in token every HTTP command of the CLI sends (`--token` or `LIANJIE_TOKEN`)."""

import typer

TOKEN = typer.Option(
    "",
    "--token",
    envvar="LIANJIE_TOKEN",
    help="Bearer token: `lianjie users token NAME`, or POST /auth/token",
    show_default=False,
)


def auth_headers(token: str) -> dict[str, str]:
    """The Authorization header of `token`; exits with a hint when there is none."""
    if not token.strip():
        typer.echo(
            "no token: pass --token or set LIANJIE_TOKEN (lianjie users token NAME)", err=True
        )
        raise typer.Exit(2)
    return {"Authorization": f"Bearer {token.strip()}"}
