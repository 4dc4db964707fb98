"""Every referral and need state is known wherever states are listed: the FHIR map, the routes
and CLI commands that move a referral, the matcher's contract, the docs and the console's
labels. Adding a state to `referrals/states.py` without the rest fails here, naming the place."""

import re
from pathlib import Path

import pytest

from cli.referrals import referrals_app
from services.needs.cases.states import CASE_TRANSITIONS, CaseStatus
from services.needs.referrals.api import router
from services.needs.referrals.fhir import FHIR_TASK_STATUS
from services.needs.referrals.states import (
    CLOSED_STATES,
    ENTERED_BY,
    OPEN_STATES,
    TRANSITIONS,
    ReferralState,
)
from services.needs.service import NEED_TRANSITIONS
from services.needs.states import CLOSED_NEED_STATES, NeedStatus
from shared.contracts.needs import REFERRAL_UNSERVED_STATES

ROOT = Path(__file__).resolve().parents[2]
REFERRALS_DOC = ROOT / "docs" / "referrals.md"
CONSOLE_I18N = ROOT / "services" / "console" / "web" / "src" / "i18n"
REFERRAL_STATES = list(ReferralState)


def _table(doc: str, header: str) -> dict[str, str]:
    """The rows of the markdown table under `header` (its first line), first cell → second."""
    lines = doc[doc.index(header) :].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1]
    return rows


def _console_labels(language: str) -> set[str]:
    """The keys of the `states:` block of the console's i18n file for `language`."""
    text = (CONSOLE_I18N / f"{language}.ts").read_text(encoding="utf-8")
    block = re.search(r"\n  states: \{\n(.*?)\n  \},", text, re.S)
    assert block is not None, f"{language}.ts has no states block"
    return set(re.findall(r"^\s+(\w+):", block.group(1), re.M))


def _cli_commands() -> set[str]:
    return {
        command.name or command.callback.__name__.replace("_", "-")  # type: ignore[union-attr]
        for command in referrals_app.registered_commands
    }


def _post_routes() -> set[str]:
    return {
        route.path  # type: ignore[attr-defined]
        for route in router.routes
        if "POST" in getattr(route, "methods", set())
    }


def test_the_state_machine_names_every_state_once() -> None:
    assert set(TRANSITIONS) == set(REFERRAL_STATES)
    assert all(nexts <= set(REFERRAL_STATES) for nexts in TRANSITIONS.values())
    assert set(REFERRAL_STATES) == OPEN_STATES | CLOSED_STATES
    assert not OPEN_STATES & CLOSED_STATES


@pytest.mark.parametrize("state", REFERRAL_STATES)
def test_fhir_maps_every_referral_state(state: ReferralState) -> None:
    assert state in FHIR_TASK_STATUS, f"fhir.FHIR_TASK_STATUS has no entry for {state}"


@pytest.mark.parametrize("state", REFERRAL_STATES)
def test_a_route_and_a_cli_command_move_a_referral_into_every_state(
    state: ReferralState,
) -> None:
    action = ENTERED_BY.get(state)
    assert action is not None, f"states.ENTERED_BY names no route into {state}"
    path = "/referrals" if action == "create" else f"/referrals/{{referral_id}}/{action}"
    assert path in _post_routes(), f"no POST {path} moves a referral into {state}"
    assert action in _cli_commands(), f"no `lianjie referrals {action}` for {state}"


def test_the_matchers_unserved_states_are_closed_referral_states() -> None:
    assert REFERRAL_UNSERVED_STATES <= CLOSED_STATES


def test_the_referral_docs_list_every_state_and_its_moves() -> None:
    doc = REFERRALS_DOC.read_text(encoding="utf-8")
    moves = _table(doc, "| from | may become |")
    documented: dict[str, set[str]] = {}
    for states, nexts in moves.items():
        for state in states.split(", "):
            documented[state] = set() if nexts.startswith("—") else set(nexts.split(", "))
    assert documented == {state.value: set(TRANSITIONS.get(state, ())) for state in ReferralState}
    fhir = _table(doc, "| Lianjie state | FHIR Task.status | why |")
    assert fhir == {state.value: FHIR_TASK_STATUS.get(state) for state in ReferralState}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_console_labels_every_referral_and_need_state(language: str) -> None:
    missing = {*REFERRAL_STATES, *NeedStatus} - _console_labels(language)
    assert not missing, f"{language}.ts has no label for {sorted(missing)}"


def test_the_need_state_machine_names_every_status() -> None:
    assert set(NEED_TRANSITIONS) == set(NeedStatus)
    assert {s for s, nexts in NEED_TRANSITIONS.items() if not nexts} == CLOSED_NEED_STATES


def test_the_case_state_machine_names_every_status() -> None:
    assert set(CASE_TRANSITIONS) == set(CaseStatus)
    assert all(nexts <= set(CaseStatus) for nexts in CASE_TRANSITIONS.values())
