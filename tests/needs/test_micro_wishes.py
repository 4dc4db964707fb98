"""GET /micro-wishes: the micro-wishes (微心愿) no one has claimed yet — a coordinator's from
every area, the case side's from their own — and GET /referrals?origin=micro_wish, the claims."""

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.needs.referrals import service as referrals
from services.needs.referrals.schemas import ClaimCreate
from shared.actor import Actor
from tests.auth import JIANGAN_TOWN, bearer
from tests.needs.conftest import new_household

ORGANIZATION = "江安县慈善会"
COORDINATOR = bearer("coordinator", sub="co-1", organization=ORGANIZATION)


def _wish(client: TestClient, household_id: str, category: str, urgency: int = 3) -> str:
    body = {"household_id": household_id, "category": category, "urgency": urgency}
    body["description"] = "想要一个新书包"
    response = client.post("/needs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _claim(sessions: sessionmaker[Session], need_id: str) -> str:
    """A claim as `referrals.flows` commits it once the resource has reserved a unit."""
    actor = Actor(id="co-1", role="coordinator", organization=ORGANIZATION)
    with sessions.begin() as session:
        referral = referrals.claim_micro_wish(
            session=session,
            need_id=need_id,
            referral_id=f"claim-of-{need_id[:8]}",
            data=ClaimCreate(resource_id="r-1", resource_name="慈善会", resource_kind="charity"),
            organization=ORGANIZATION,
            reservation="reserved",
            actor=actor,
            now=datetime.now(UTC),
        )
        return referral.id


def test_open_wishes_leave_out_claimed_ones_and_other_needs(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    household = new_household(client)["id"]
    elsewhere = new_household(client, adcode="511524101", station_adcode="511524101")["id"]
    claimed = _wish(client, household, "micro_wish.goods")
    calm = _wish(client, household, "micro_wish.experience", urgency=2)
    urgent = _wish(client, household, "micro_wish.goods", urgency=5)
    far = _wish(client, elsewhere, "micro_wish.goods")
    _wish(client, household, "elderly_care.meals")  # not a wish
    claim = _claim(sessions, claimed)

    listed = client.get("/micro-wishes", headers=COORDINATOR)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    # Every area for a coordinator; most urgent, then oldest first; claimed wish, meal left out.
    assert [w["need_id"] for w in items] == [urgent, far, calm]
    assert listed.json()["total"] == 3
    assert items[0]["description"] == "想要一个新书包"
    assert items[0]["adcode"] == JIANGAN_TOWN and items[0]["status"] == "open"
    # Every coordinator reads this list: no person, no hardship (the claimer reads those on
    # their referral).
    assert not {"person", "hardship_categories", "household_id"} & set(items[0])

    # A social worker of the station sees their own area's only.
    worker = bearer("social_worker", adcode=JIANGAN_TOWN)
    mine = client.get("/micro-wishes", headers=worker).json()
    assert {w["need_id"] for w in mine["items"]} == {urgent, calm}

    # The coordinator's claims, to start and complete: the referrals of origin micro_wish.
    claims = client.get("/referrals", params={"origin": "micro_wish"}, headers=COORDINATOR)
    assert claims.status_code == 200, claims.text
    assert [r["id"] for r in claims.json()["items"]] == [claim]
    assert claims.json()["items"][0]["state"] == "accepted"
    others = client.get("/referrals", params={"origin": "matcher"}, headers=COORDINATOR).json()
    assert others["items"] == []


def test_a_closed_wish_is_not_open_to_claim(client: TestClient) -> None:
    household = new_household(client)["id"]
    wish = _wish(client, household, "micro_wish.goods")
    assert [w["need_id"] for w in client.get("/micro-wishes").json()["items"]] == [wish]
    closed = client.post(f"/needs/{wish}/status", json={"status": "withdrawn"})
    assert closed.status_code == 200, closed.text
    assert client.get("/micro-wishes", headers=COORDINATOR).json()["total"] == 0


def test_bad_paging_and_origin_are_refused_naming_the_field(client: TestClient) -> None:
    too_many = client.get("/micro-wishes", params={"limit": 100_000})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "limit"
    bad = client.get("/referrals", params={"origin": "DROP TABLE"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "origin"
