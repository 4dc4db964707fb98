"""The CLI takes its common options in one place on every command (issue 16): each command that
calls a service accepts `--json`, `--url` and `--token` right after its name and lists them in
`--help`; no group takes options before the command; a refusal shows each rule as `[rule]`."""

import json
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cli.main import app
from cli.stack import Stack
from shared.auth import Role
from tests.auth import JIANGAN_TOWN

SERVICE_GROUPS = ("needs", "referrals", "resources")
LOCAL = {("needs", "template")}  # writes a file; calls no service
OPTIONS = ["--json", "--url", "http://127.0.0.1:9", "--token", "t"]


def _commands(command: Any = None, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command of the CLI, with the words that name it."""
    command = command or get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return [(path, command)]
    return [found for name, sub in subcommands.items() for found in _commands(sub, (*path, name))]


def _groups(command: Any = None, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    command = command or get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return []
    nested = [g for name, sub in subcommands.items() for g in _groups(sub, (*path, name))]
    return [(path, command), *nested]


def _options(command: Any) -> set[str]:
    return {o for p in command.params if p.param_type_name == "option" for o in p.opts}


SERVICE_COMMANDS = [
    path for path, _ in _commands() if path[0] in SERVICE_GROUPS and path not in LOCAL
]


def test_every_command_that_calls_a_service_has_json_url_and_token() -> None:
    assert len(SERVICE_COMMANDS) >= 25
    for path, command in _commands():
        options = _options(command)
        if path in SERVICE_COMMANDS:
            assert {"--json", "--url", "--token"} <= options, path
        else:  # a command of files and databases names them its own way
            assert not {"--url", "--token"} & options, path


@pytest.mark.parametrize("path", SERVICE_COMMANDS, ids=" ".join)
def test_the_options_follow_the_command_and_are_in_its_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, *OPTIONS, "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--json", "--url", "--token"):
        assert option in result.output, (path, option)


def test_no_group_takes_options_before_the_command() -> None:
    for path, group in _groups():
        own = _options(group) - {"--help", "--install-completion", "--show-completion"}
        assert not own, (path, own)
    before = CliRunner().invoke(app, ["referrals", "--url", "http://127.0.0.1:9", "overdue"])
    assert before.exit_code == 2, before.output


@pytest.mark.integration
def test_every_service_group_answers_json_and_shows_a_refusals_rule(stack: Stack) -> None:
    runner = CliRunner()
    worker = stack.token(Role.SOCIAL_WORKER, adcode=JIANGAN_TOWN, sub="sw-options")
    hub = stack.token(Role.COUNTY_HUB, adcode=JIANGAN_TOWN[:6], sub="hub-options")
    answers = [
        (["needs", "needs", "--limit", "1"], worker),
        (["referrals", "overdue", "--limit", "1"], hub),
    ]
    for command, token in answers:
        connection = ["--json", "--url", stack.url("needs"), "--token", token]
        result = runner.invoke(app, [*command, *connection])
        assert result.exit_code == 0, result.output
        assert "total" in json.loads(result.output), command

    needs = ["--url", stack.url("needs"), "--token", worker]
    refused = runner.invoke(app, ["needs", "household", "火星基地", *needs])
    assert refused.exit_code == 1 and "[unresolvable]" in refused.output, refused.output
    cancel = ["referrals", "cancel", "no-such-referral", "--reason", "bogus", *needs]
    refused = runner.invoke(app, cancel)
    assert refused.exit_code == 1 and "reason [literal_error]" in refused.output, refused.output
