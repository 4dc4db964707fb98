"""A social worker's day through `lianjie needs …` against the running stack: open a file, add
a person, record a visit, see what is due, record a need and ask for matches."""

import json
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.stack import Stack
from shared.clock import china_today
from tests.auth import token
from tests.support.factories import resident_id


def _run(stack: Stack, *args: str) -> Any:
    result = CliRunner().invoke(
        app, ["needs", *args, "--json", "--url", stack.url("needs"), "--token", token()]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.integration
def test_social_worker_day_through_the_cli(stack: Stack) -> None:
    household = _run(
        stack, "household", "江安县红桥镇团结村2组8号", "--station", "511523101",
        "--hardship", "特困",
    )  # fmt: skip
    assert (household["adcode"], household["location_precision"]) == (
        "511523101",
        "district_centroid",
    )
    number = resident_id(born="19440708", serial="317")
    person = _run(
        stack, "person", household["id"], "赵六", "--id-number", number, "--group", "独居老人",
        "--tier", "1", "--head", "--consent-date", "2026-01-10",
    )  # fmt: skip
    assert person["case_status"] == "active" and person["tier"] == 1
    visited_on = (china_today() - timedelta(days=9)).isoformat()
    visit = _run(
        stack, "visit", person["id"], "--social-worker", "李社工", "--on", visited_on,
        "--findings", "行动不便",
    )  # fmt: skip
    assert visit["next_visit_due"] == (china_today() - timedelta(days=2)).isoformat()
    due = _run(stack, "due", "--station", "511523101", "--within-days", "0")
    mine = [v for v in due["visits"] if v["person_id"] == person["id"]]
    assert len(mine) == 1 and mine[0]["overdue"] is True
    need = _run(
        stack, "need", household["id"], "elderly_care.meals", "--person", person["id"],
        "--urgency", "4",
    )  # fmt: skip
    assert need["status"] == "open"
    matches = _run(stack, "match", need["id"])
    assert matches["status"] == "matching"
    assert isinstance(matches["results"], list)
    stats = _run(stack, "stats", "--station", "511523101")
    assert stats["persons_by_group"].get("elderly_living_alone", 0) >= 1


@pytest.mark.integration
def test_cli_prints_the_problem_and_fails_on_bad_input(stack: Stack) -> None:
    result = CliRunner().invoke(
        app, ["needs", "household", "火星基地", "--url", stack.url("needs"), "--token", token()]
    )
    assert result.exit_code == 1
    assert "unresolvable" in result.output
