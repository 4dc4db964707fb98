"""Withdrawing consent (撤回同意, PIPL art. 15 and 47): recorded with date, scope and who;
`sensitive` erases health and disability data and keeps new such data out until consent is
given again; `case_file` exits the case and stops needs, matches and referrals for the person;
what was lawfully done before stays; the record and the log carry ids and codes only."""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from services.needs import privacy
from shared.clock import china_today
from shared.errors import ValidationFailed
from tests.privacy.test_personal_data import NAME, NUMBER, PHONE, household, ok, person, rule_of

EVERYTHING = ["case_file", "photos", "referral_sharing", "sensitive"]


def _case(sw: TestClient, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A disabled person's active case, consent to everything given; (household id, person)."""
    home = household(sw)
    consent = {"given_on": "2026-01-05", "scope": EVERYTHING}
    created = ok(person(sw, home, groups=["disabled", "elderly"], disability_grade=2,
                        consent=consent, **fields), 201)  # fmt: skip
    ok(sw.post(f"/persons/{created['id']}/status", json={"status": "active"}))
    return home, created


def _withdraw(sw: TestClient, person_id: str, **body: Any) -> dict[str, Any]:
    return ok(sw.post(f"/persons/{person_id}/consent/withdrawal", json=body), 201)


def _need(sw: TestClient, home: str, person_id: str) -> Any:
    body = {"household_id": home, "person_id": person_id, "category": "elderly_care.meals"}
    return sw.post("/needs", json=body)


def test_withdrawing_sensitive_consent_erases_health_data_and_keeps_the_case(
    engine: Engine, needs_as: Callable[..., TestClient]
) -> None:
    sw = needs_as("social_worker", sub="sw-li")
    _home, created = _case(sw)
    done = _withdraw(sw, created["id"], scope=["sensitive"], withdrawn_on="2026-03-01")

    withdrawal, after = done["withdrawal"], done["person"]
    assert withdrawal["scope"] == ["sensitive"]
    assert withdrawal["withdrawn_on"] == "2026-03-01"
    assert (withdrawal["recorded_by"], withdrawal["actor_id"], withdrawal["role"]) == (
        "sw-li",
        "sw-li",
        "social_worker",
    )
    assert withdrawal["erased"] == ["groups", "disability_grade"]
    assert withdrawal["case_status_before"] == withdrawal["case_status_after"] == "active"
    assert after["groups"] == ["elderly"] and after["disability_grade"] is None
    assert after["consent_scope"] == ["case_file", "photos", "referral_sharing"]
    assert after["consent_withdrawn"] == ["sensitive"]
    assert after["case_status"] == "active"
    with engine.connect() as conn:
        row = conn.execute(text("SELECT groups, disability_grade FROM person")).one()
    assert "disabled" not in str(row.groups) and row.disability_grade is None

    # New health or disability data needs the separate consent again: what every writer checks.
    with pytest.raises(ValidationFailed):
        privacy.check_sensitive_consent(
            fields=["groups"], scope=after["consent_scope"], given_by="self", born=None
        )
    # Given again, it takes effect again.
    again = {"given_on": china_today().isoformat(), "scope": EVERYTHING}
    restored = ok(sw.put(f"/persons/{created['id']}/consent", json=again))
    assert restored["consent_withdrawn"] == [] and "sensitive" in restored["consent_scope"]


def test_withdrawing_the_case_file_exits_the_case_and_stops_needs_and_referrals(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker")
    home, created = _case(sw)
    visit = {"visited_on": china_today().isoformat(), "findings": "身体尚可"}
    ok(sw.post(f"/persons/{created['id']}/visits", json=visit), 201)
    need_before = ok(_need(sw, home, created["id"]), 201)["id"]

    done = _withdraw(sw, created["id"], scope=["case_file"])
    after = done["person"]
    assert (after["case_status"], after["exit_reason"]) == ("exited", "consent_withdrawn")
    assert done["withdrawal"]["case_status_before"] == "active"
    assert done["withdrawal"]["withdrawn_on"] == china_today().isoformat()
    assert after["groups"] == ["disabled", "elderly"], "only a sensitive withdrawal erases"
    assert after["next_visit_due"] is None

    # Processing based on the consent stops: no new need, no matches, no referral.
    assert rule_of(_need(sw, home, created["id"])) == {("person_id", "consent_withdrawn")}
    for refused in (
        sw.post(f"/needs/{need_before}/matches"),
        sw.post("/referrals", json={"need_id": need_before, "resource_id": "r-1"}),
    ):
        assert refused.status_code == 409, refused.text
        assert refused.json()["rule"] == "consent_withdrawn"
        assert refused.json()["withdrawn"] == ["case_file"]
    # Applying again is possible; active again only with consent given again.
    ok(sw.post(f"/persons/{created['id']}/status", json={"status": "applied"}))
    activate = sw.post(f"/persons/{created['id']}/status", json={"status": "active"})
    assert rule_of(activate) == {("consent", "required_to_activate")}
    # What was done before stays: the visit and the need are still on file.
    assert len(ok(sw.get(f"/persons/{created['id']}/visits"))) == 1
    assert ok(sw.get(f"/needs/{need_before}"))["id"] == need_before

    again = {"given_on": china_today().isoformat(), "scope": EVERYTHING}
    assert ok(sw.put(f"/persons/{created['id']}/consent", json=again))["consent_withdrawn"] == []
    ok(_need(sw, home, created["id"]), 201)


def test_withdrawing_referral_sharing_stops_referrals_but_keeps_the_case(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker")
    home, created = _case(sw)
    need = ok(_need(sw, home, created["id"]), 201)["id"]
    after = _withdraw(sw, created["id"], scope=["referral_sharing"])["person"]
    assert after["case_status"] == "active" and after["groups"] == ["disabled", "elderly"]
    refused = sw.post("/referrals", json={"need_id": need, "resource_id": "r-1"})
    assert refused.status_code == 409 and refused.json()["withdrawn"] == ["referral_sharing"]


def test_withdrawing_everything_erases_exits_and_is_recorded_with_ids_only(
    engine: Engine, needs_as: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    sw = needs_as("station_lead", sub="lead-wang")
    _home, created = _case(sw, phone=PHONE)
    with caplog.at_level(logging.INFO):
        done = _withdraw(sw, created["id"])
    assert done["withdrawal"]["scope"] == EVERYTHING
    assert done["withdrawal"]["erased"] == ["groups", "disability_grade"]
    assert done["withdrawal"]["case_status_after"] == "exited"
    assert (
        done["person"]["consent_scope"] == [] and done["person"]["consent_withdrawn"] == EVERYTHING
    )
    assert done["person"]["consent_on"] == "2026-01-05", "the consent given before is history"

    with engine.connect() as conn:
        record = conn.execute(text("SELECT * FROM consent_withdrawal")).one()._asdict()
    assert record["person_id"] == created["id"] and record["actor_id"] == "lead-wang"
    assert record["recorded_by"] == "lead-wang", "who recorded it is the caller's account id"
    assert done["withdrawal"]["recorded_by"] == "lead-wang"
    for secret in (NAME, NUMBER, PHONE, NUMBER[-8:]):
        assert secret not in str(record)
        assert secret not in caplog.text
    assert created["id"] in caplog.text


def test_withdrawal_input_is_checked_and_a_dropped_scope_must_be_withdrawn(
    needs_as: Callable[..., TestClient],
) -> None:
    sw = needs_as("social_worker")
    _home, created = _case(sw)
    url = f"/persons/{created['id']}/consent/withdrawal"
    tomorrow = (china_today() + timedelta(days=1)).isoformat()
    assert rule_of(sw.post(url, json={"withdrawn_on": tomorrow})) == {
        ("withdrawn_on", "not_in_future")
    }
    assert rule_of(sw.post(url, json={"scope": []})) == {("scope", "too_short")}
    assert rule_of(sw.post(url, json={"scope": ["everything"]})) == {("scope.0", "enum")}
    # Who recorded it is the caller's account: a name typed in is not taken (ids only).
    assert rule_of(sw.post(url, json={"recorded_by": "王站长"})) == {
        ("recorded_by", "extra_forbidden")
    }
    assert sw.post("/persons/no-such-person/consent/withdrawal", json={}).status_code == 404
    # Dropping a scope by recording a narrower consent would skip the erasure: refused.
    narrower = {"given_on": china_today().isoformat(), "scope": ["case_file"]}
    dropped = sw.put(f"/persons/{created['id']}/consent", json=narrower)
    assert rule_of(dropped) == {("scope", "withdraw_instead")}
    assert ok(sw.get(f"/persons/{created['id']}"))["groups"] == ["disabled", "elderly"]
