"""Load a demo county into a running stack through its HTTP APIs, as a station would."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from shared.clock import china_today
from shared.demo import DEMO_ORGANIZATION, DemoCounty

DEMO_WORKER = "demo-social-worker"
CONSENT_ON = "2026-01-05"
REFERRALS = 6  # needs referred to the demo organization's resources: half to review first
REVIEWED_BY = "civil_affairs"  # the demo reviewer's department


@dataclass
class LoadedDemo:
    resource_ids: list[str]
    household_ids: list[str]
    need_ids: list[str]
    person_ids: list[str] = field(default_factory=list)
    referral_ids: list[str] = field(default_factory=list)


def load_demo(demo: DemoCounty, *, needs_url: str, resources_url: str, token: str) -> LoadedDemo:
    """POST every resource, household, person (with consent, an active case and a past visit)
    and need; then refer a few needs to the demo organization's resources, half of them through
    review. Raises on the first refusal."""
    loaded = LoadedDemo([], [], [])
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30.0, headers=headers) as client:
        for payload in demo.resources:
            loaded.resource_ids.append(_post(client, f"{resources_url}/resources", payload))
        for payload in demo.households:
            body = {**payload, "social_worker": DEMO_WORKER}
            loaded.household_ids.append(_post(client, f"{needs_url}/households", body))
        for household_index, person in demo.persons:
            loaded.person_ids.append(
                _person(client, needs_url, loaded.household_ids[household_index], person)
            )
        for household_index, payload in demo.needs:
            body = {**payload, "household_id": loaded.household_ids[household_index]}
            loaded.need_ids.append(_post(client, f"{needs_url}/needs", body))
        ours = [
            (rid, r)
            for rid, r in zip(loaded.resource_ids, demo.resources, strict=True)
            if r.get("organization") == DEMO_ORGANIZATION
        ]
        # The last needs: the first one stays open, for the matcher example `lianjie up` prints.
        for i, need_id in enumerate(loaded.need_ids[1:][-REFERRALS:] if ours else []):
            resource_id, resource = ours[i % len(ours)]
            body = {
                "need_id": need_id,
                "resource_id": resource_id,
                "resource_kind": resource["kind"],
                "resource_name": resource["name"],
                "override_reason": "演示数据：转介至演示机构的资源 (demo referral)",
                "review_departments": [REVIEWED_BY] if i % 2 else [],
            }
            loaded.referral_ids.append(_post(client, f"{needs_url}/referrals", body))
    return loaded


def _person(client: httpx.Client, needs_url: str, household_id: str, person: dict[str, Any]) -> str:
    """A person with consent to the case file, an active case and a visit some days ago."""
    days_ago = person["visit_days_ago"]
    body = {k: v for k, v in person.items() if k != "visit_days_ago"}
    body["consent"] = {"given_on": CONSENT_ON, "scope": ["case_file", "referral_sharing"]}
    person_id = _post(client, f"{needs_url}/households/{household_id}/persons", body)
    status = client.post(f"{needs_url}/persons/{person_id}/status", json={"status": "active"})
    status.raise_for_status()
    visit = {
        "visited_on": (china_today() - timedelta(days=days_ago)).isoformat(),
        "social_worker": DEMO_WORKER,
        "findings": "演示探访记录",
    }
    _post(client, f"{needs_url}/persons/{person_id}/visits", visit, key=None)
    return person_id


def already_loaded(*, resources_url: str, token: str) -> bool:
    """True when the resources service already holds resources (a previous run's demo)."""
    response = httpx.get(
        f"{resources_url}/resources",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )
    response.raise_for_status()
    return int(response.json()["total"]) > 0


def demo_users(county: str) -> list[dict[str, str]]:
    """One demo user per role, scoped to the demo county."""
    return [
        {"username": "demo-social-worker", "role": "social_worker", "adcode": county},
        {"username": "demo-station-lead", "role": "station_lead", "adcode": county},
        {"username": "demo-county-hub", "role": "county_hub", "adcode": county},
        {"username": "demo-coordinator", "role": "coordinator", "organization": DEMO_ORGANIZATION},
        {
            "username": "demo-reviewer",
            "role": "alliance_reviewer",
            "department": REVIEWED_BY,
            "adcode": county,
        },
        {"username": "demo-admin", "role": "admin"},
    ]


def _post(client: httpx.Client, url: str, payload: dict[str, Any], key: str | None = "id") -> str:
    response = client.post(url, json=payload)
    if response.status_code != 201:
        raise RuntimeError(f"{url} refused a demo record: {response.status_code} {response.text}")
    return str(response.json()[key] if key else "")
