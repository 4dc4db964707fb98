"""The options of every command that calls a service, in one place: after the command's name.

`lianjie needs persons --json --url … --token …`, `lianjie referrals accept REF --json --url …`,
`lianjie resources export out.csv --json --url …`: each such command is registered with
`service_command`, which gives it `--json` (the answer as JSON, for scripts), `--url` (the
service; `cli.service_url` says where it is otherwise) and `--token` (or `LIANJIE_TOKEN`), and
hands them to the command as one `Connection`. Groups take no options of their own, so nothing
goes between `lianjie` and the command. Commands that work on files or databases directly
(`users`, `pii`, `deploy`, …) name those with options of their own, after the command too.
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import typer

from cli.output import JSON
from cli.service_url import resolved, url_option
from cli.token_option import TOKEN, auth_headers

Command = TypeVar("Command", bound=Callable[..., Any])


@dataclass(frozen=True)
class Connection:
    """Where a command sends its requests, with which token, and how it prints the answer."""

    url: str
    token: str
    as_json: bool

    def headers(self) -> dict[str, str]:
        """The Authorization header (exits with a hint when there is no token)."""
        return auth_headers(self.token)


def service_command(
    app: typer.Typer, service: str, name: str | None = None
) -> Callable[[Command], Command]:
    """Register the decorated function as a command of `app` that calls `service`; it takes
    `connection: Connection` in place of `--json`, `--url` and `--token`."""

    def register(command: Command) -> Command:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.name != "connection"]
        keyword = inspect.Parameter.KEYWORD_ONLY
        added = [
            inspect.Parameter("as_json", keyword, default=JSON, annotation=bool),
            inspect.Parameter("url", keyword, default=url_option(service), annotation=str | None),
            inspect.Parameter("token", keyword, default=TOKEN, annotation=str),
        ]

        @functools.wraps(command)
        def run(*args: Any, as_json: bool, url: str | None, token: str, **kwargs: Any) -> Any:
            connection = Connection(url=resolved(service, url), token=token, as_json=as_json)
            return command(*args, connection=connection, **kwargs)

        run.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        app.command(name)(run)
        return command

    return register
