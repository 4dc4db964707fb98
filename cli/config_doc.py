"""Write docs/configuration.md from the settings classes, so the table never drifts from code."""

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings

from cli.settings import JetStreamSettings
from services.console.settings import ConsoleSettings
from services.matcher.settings import MatcherSettings
from services.needs.settings import NeedsSettings
from services.resources.settings import ResourcesSettings
from shared.settings import CommonSettings

DOC = Path(__file__).parent.parent / "docs" / "configuration.md"
HEADER = """# Configuration

Every knob is an environment variable, read by pydantic-settings. Generated from the settings
classes by `python -m cli.config_doc`; a test fails when this file is out of date.
Each service setting may instead be read from a file named by the variable plus `_FILE`
(`LIANJIE_PII_KEYS_FILE=/run/secrets/pii_keys`), as Docker and Kubernetes mount secrets.

| variable | default | meaning |
|---|---|---|
"""


def _rows(settings: type[BaseSettings], prefix: str, skip: set[str]) -> list[str]:
    rows = []
    for name, field in settings.model_fields.items():
        if name in skip:
            continue
        default = field.get_default(call_default_factory=True)
        if field.default_factory is not None and isinstance(default, str):
            default = "(computed)"  # e.g. host and process id: differs on every machine
        if isinstance(default, BaseModel):
            for sub, subfield in type(default).model_fields.items():
                env = f"{prefix}{name}__{sub}".upper()
                rows.append(_row(env, getattr(default, sub), subfield.description or sub))
            continue
        rows.append(_row(f"{prefix}{name}".upper(), default, field.description or ""))
    return rows


def _row(env: str, default: Any, meaning: str) -> str:
    shown = (
        json.dumps(to_jsonable_python(default), ensure_ascii=False)
        if isinstance(default, dict)
        else default
    )
    if isinstance(default, list) and any(isinstance(item, BaseModel) for item in default):
        shown = f"{len(default)} rules, listed in the docs"  # too long for a table cell
    return f"| `{env}` | `{shown}` | {meaning} |"


def render() -> str:
    """The whole document."""
    rows = _rows(CommonSettings, "LIANJIE_", set())
    service_skip = {"common", "service_name"}
    rows += _rows(NeedsSettings, "LIANJIE_NEEDS_", service_skip)
    rows += _rows(ResourcesSettings, "LIANJIE_RESOURCES_", service_skip)
    rows += _rows(MatcherSettings, "LIANJIE_MATCHER_", service_skip | {"database_url"})
    rows += _rows(JetStreamSettings, "LIANJIE_JETSTREAM_", set())
    rows += _rows(ConsoleSettings, "LIANJIE_CONSOLE_", service_skip | {"database_url"})
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")
