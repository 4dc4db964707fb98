"""`lianjie users add/token`: an operator adds a user and mints a token carrying their scope."""

import os
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from shared.auth import Role, verify_token


def test_a_user_added_on_the_cli_gets_a_token_with_their_role_and_scope(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'needs.db'}"
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "users",
            "add",
            "li",
            "--role",
            "social_worker",
            "--adcode",
            "511523101",
            "--database-url",
            url,
        ],
    )
    assert added.exit_code == 0, added.output
    assert "password: " in added.output
    again = runner.invoke(app, ["users", "add", "li", "--role", "admin", "--database-url", url])
    assert again.exit_code == 1 and "exists" in again.output
    private = os.environ["LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE"]
    minted = runner.invoke(
        app, ["users", "token", "li", "--database-url", url, "--private-key", private]
    )
    assert minted.exit_code == 0, minted.output
    public = Path(os.environ["LIANJIE_AUTH_PUBLIC_KEY_FILE"]).read_bytes()
    principal = verify_token(minted.output.strip(), public_pem=public)
    assert (principal.sub, principal.role, principal.adcode) == (
        "li",
        Role.SOCIAL_WORKER,
        "511523101",
    )


def test_a_scoped_role_without_its_scope_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'needs.db'}"
    result = CliRunner().invoke(
        app, ["users", "add", "co", "--role", "coordinator", "--database-url", url]
    )
    assert result.exit_code == 2 and "organization" in result.output
