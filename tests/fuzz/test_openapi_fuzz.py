"""Fuzzing every operation of every service from its own OpenAPI schema (schemathesis), with a
sign-in token: no 5xx, no response that breaks its schema, and bad input answered with a 4xx
problem+json that names the field."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.result import Ok

from cli.stack import Stack
from tests.auth import bearer
from tests.conftest import examples

# Examples per operation and mode: each one is an HTTP call whose request Hypothesis builds from
# the schema, in this process (most of the test's time); derandomized, every run sends the same.
# `make test-deep` runs the full counts.
EXAMPLES = {
    GenerationMode.POSITIVE: examples(deep=12, make_test=4),
    GenerationMode.NEGATIVE: examples(deep=8, make_test=3),
}
PROBLEM_JSON = "application/problem+json"


@dataclass
class Findings:
    """Status classes seen, and every failure (operation, mode, status, what broke)."""

    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def fail(self, where: str, status: int, what: str) -> None:
        self.failures.append(f"{where} → {status}: {what[:300]}")


def _first_failure(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_first_failure(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def _header(response: Any, name: str) -> str:
    """One header of a schemathesis response (its headers map names to lists of values)."""
    for key, values in response.headers.items():
        if key.lower() == name:
            return str(values[0] if isinstance(values, list) else values)
    return ""


def _check_problem(where: str, response: Any, findings: Findings) -> None:
    """A 4xx is problem+json; a 422 says which field broke which rule."""
    status = response.status_code
    if not 400 <= status < 500 or (status in (404, 405) and not response.content):
        return
    content_type = _header(response, "content-type")
    if not content_type.startswith(PROBLEM_JSON):
        findings.fail(where, status, f"content-type {content_type!r}")
        return
    body = response.json()
    if status == 422 and not all(e.get("field") and e.get("rule") for e in body.get("errors", [])):
        findings.fail(where, status, f"a validation error names no field: {body}")
    if status == 422 and not body.get("errors"):
        findings.fail(where, status, "422 without errors")


def _runner(
    operation: Any,
    mode: GenerationMode,
    *,
    service: str,
    base_url: str,
    headers: dict[str, str],
    findings: Findings,
) -> Callable[[], None]:
    """A hypothesis test of one operation in one generation mode, recording into `findings`."""
    where = f"{service} {operation.method.upper()} {operation.path} ({mode.value})"
    checks = [not_a_server_error]
    if mode is GenerationMode.POSITIVE:
        checks.append(response_schema_conformance)

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        findings.statuses[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # a failed check: asserted by the test
            findings.fail(where, response.status_code, _first_failure(exc))
        _check_problem(where, response, findings)

    return run  # type: ignore[no-any-return]


def _fuzz(stack: Stack, service: str) -> Findings:
    base_url = stack.url(service)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = bearer()
    findings = Findings()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):  # the schema itself is broken here
            findings.fail(service, 0, f"invalid operation in the schema: {result.err()}")
            continue
        for mode in EXAMPLES:
            run = _runner(
                result.ok(),
                mode,
                service=service,
                base_url=base_url,
                headers=headers,
                findings=findings,
            )
            try:
                run()
            except Unsatisfiable:  # nothing to break: an operation without any input
                assert mode is GenerationMode.NEGATIVE
                findings.statuses["no negative input"] += 1
    return findings


@pytest.mark.integration
@pytest.mark.parametrize("service", ["needs", "resources", "matcher"])
def test_fuzzing_the_api_finds_no_5xx_and_no_schema_violation(
    fuzz_stack: Stack, service: str
) -> None:
    findings = _fuzz(fuzz_stack, service)
    assert findings.statuses["5xx"] == 0, findings.failures
    assert findings.failures == []
    assert findings.statuses["2xx"] > 0 and findings.statuses["4xx"] > 0, findings.statuses
