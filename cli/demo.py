"""Load a demo county into a running stack through its HTTP APIs, as a station would."""

from dataclasses import dataclass

import httpx

from shared.demo import DemoCounty


@dataclass
class LoadedDemo:
    resource_ids: list[str]
    household_ids: list[str]
    need_ids: list[str]


def load_demo(demo: DemoCounty, *, needs_url: str, resources_url: str, token: str) -> LoadedDemo:
    """POST every resource, household and need; raise on the first refusal."""
    loaded = LoadedDemo([], [], [])
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30.0, headers=headers) as client:
        for payload in demo.resources:
            loaded.resource_ids.append(_post(client, f"{resources_url}/resources", payload))
        for payload in demo.households:
            loaded.household_ids.append(_post(client, f"{needs_url}/households", payload))
        for household_index, payload in demo.needs:
            body = {**payload, "household_id": loaded.household_ids[household_index]}
            loaded.need_ids.append(_post(client, f"{needs_url}/needs", body))
    return loaded


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
        {"username": "demo-coordinator", "role": "coordinator", "organization": "demo"},
        {"username": "demo-reviewer", "role": "alliance_reviewer", "department": "civil_affairs"},
        {"username": "demo-admin", "role": "admin"},
    ]


def _post(client: httpx.Client, url: str, payload: dict[str, object]) -> str:
    response = client.post(url, json=payload)
    if response.status_code != 201:
        raise RuntimeError(f"{url} refused a demo record: {response.status_code} {response.text}")
    return str(response.json()["id"])
