"""One aid chain per household (一户一条救助链): referrals under way or done and benefits recorded
by any member of the alliance on one timeline; the same aid from two providers over the same
days is flagged, and so are open needs with nothing received for too long."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals.models import Referral
from shared.auth import Role
from shared.clock import china_today
from tests.auth import bearer
from tests.needs.conftest import new_household, problems


def _benefit(client: TestClient, household_id: str, **body: Any) -> dict[str, Any]:
    payload = {"category": "basic_living.food", "provider_kind": "charity", **body}
    response = client.post(f"/households/{household_id}/benefits", json=payload)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _need(client: TestClient, household_id: str, category: str = "basic_living.food") -> str:
    body = {"household_id": household_id, "category": category, "urgency": 3}
    response = client.post("/needs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _referral(sessions: sessionmaker[Session], need_id: str, state: str, days_ago: int) -> str:
    """A referral as the referral flow leaves it (the flow itself is tested with the stack)."""
    started = datetime.now(UTC) - timedelta(days=days_ago)
    referral_id = str(uuid.uuid4())
    with sessions.begin() as s:
        s.add(
            Referral(
                id=referral_id,
                need_id=need_id,
                resource_id="res-foodbank",
                resource_name="爱心粮仓",
                resource_kind="charity",
                resource_organization="org-foodbank",
                adcode="511523101",
                state=state,
                origin="match",
                created_at=started,
                updated_at=started,
                state_changed_at=started,
            )
        )
    return referral_id


def test_a_planted_double_aid_is_flagged(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)
    need = _need(client, household["id"])
    under_way = _referral(sessions, need, "in_progress", days_ago=20)
    _referral(sessions, need, "declined", days_ago=30)  # gave nothing: not on the chain
    monthly = _benefit(
        client,
        household["id"],
        provider="县民政局",
        provider_kind="department",
        start_on=(china_today() - timedelta(days=60)).isoformat(),
        end_on=(china_today() + timedelta(days=30)).isoformat(),
    )
    assert monthly["flags"] and monthly["flags"][0]["kind"] == "double_aid"
    other_kind = _benefit(
        client,
        household["id"],
        provider="爱心企业",
        category="education.tuition",
        start_on=china_today().isoformat(),
    )
    chain = client.get(f"/households/{household['id']}/aid-chain").json()
    assert [e["source"] for e in chain["entries"]] == ["recorded", "referral", "recorded"]
    assert (
        chain["entries"][1]["id"] == under_way and chain["entries"][1]["provider"] == "org-foodbank"
    )
    double = [f for f in chain["flags"] if f["kind"] == "double_aid"]
    assert len(double) == 1 and double[0]["category"] == "basic_living.food"
    recorded_food = next(e["id"] for e in chain["entries"] if e["provider"] == "县民政局")
    assert double[0]["entries"] == sorted([under_way, recorded_food])
    assert all(other_kind["entries"][-1]["id"] not in f["entries"] for f in chain["flags"])


def test_same_provider_or_separate_periods_are_not_double_aid(client: TestClient) -> None:
    household = new_household(client)
    for start, end in ((120, 90), (60, 30)):
        _benefit(
            client,
            household["id"],
            provider="爱心超市",
            start_on=(china_today() - timedelta(days=start)).isoformat(),
            end_on=(china_today() - timedelta(days=end)).isoformat(),
        )
    _benefit(
        client,
        household["id"],
        provider="爱心超市",
        start_on=(china_today() - timedelta(days=40)).isoformat(),
    )
    _benefit(
        client,
        household["id"],
        provider="红十字会",
        start_on=(china_today() - timedelta(days=10)).isoformat(),
    )
    chain = client.get(f"/households/{household['id']}/aid-chain").json()
    assert chain["flags"] == []


def test_open_needs_with_nothing_received_are_flagged(client: TestClient) -> None:
    waiting = new_household(client)
    _need(client, waiting["id"], "elderly_care.meals")
    _benefit(
        client,
        waiting["id"],
        provider="县民政局",
        start_on=(china_today() - timedelta(days=200)).isoformat(),
    )
    served = new_household(client)
    _need(client, served["id"], "elderly_care.meals")
    _benefit(
        client,
        served["id"],
        provider="县民政局",
        start_on=(china_today() - timedelta(days=5)).isoformat(),
    )
    no_needs = new_household(client)  # nothing received, nothing asked: no flag
    flags = client.get("/aid-chain/flags", params={"kind": "unserved"}).json()
    assert [f["household_id"] for f in flags["items"]] == [waiting["id"]]
    assert no_needs["id"] not in {f["household_id"] for f in flags["items"]}
    lead_elsewhere = bearer(Role.STATION_LEAD, adcode="511524")
    assert client.get("/aid-chain/flags", headers=lead_elsewhere).json()["total"] == 0
    worker_elsewhere = bearer(Role.SOCIAL_WORKER, adcode="511524")
    hidden = client.get(f"/households/{waiting['id']}/aid-chain", headers=worker_elsewhere)
    assert hidden.status_code in (403, 404)


def test_bad_benefits_are_422_and_write_nothing(client: TestClient) -> None:
    household = new_household(client)
    backwards = {
        "category": "basic_living.food",
        "provider": "x",
        "provider_kind": "charity",
        "start_on": china_today().isoformat(),
        "end_on": (china_today() - timedelta(days=1)).isoformat(),
    }
    response = client.post(f"/households/{household['id']}/benefits", json=backwards)
    assert response.status_code == 422
    stranger = dict(backwards, end_on=None, person_id="nobody")
    response = client.post(f"/households/{household['id']}/benefits", json=stranger)
    assert problems(response) == {("person_id", "not_in_household")}
    unknown = dict(backwards, end_on=None, category="yachts")
    response = client.post(f"/households/{household['id']}/benefits", json=unknown)
    assert response.status_code == 422
    assert client.get(f"/households/{household['id']}/aid-chain").json()["entries"] == []
