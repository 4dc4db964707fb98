"""The demo county is explorable (issue 16): its persons have visits due, the demo
coordinator's organization has referrals to answer, the demo reviewer has a queue."""

from cli.demo import DEMO_WORKER, demo_users, load_demo
from cli.stack import Stack
from shared.auth import Role
from shared.demo import DEFAULT_COUNTY, generate_county


def test_the_demo_county_has_visits_due_referrals_to_answer_and_a_review_queue(
    stack: Stack,
) -> None:
    county = generate_county(seed=7, households=8, resources=30)
    assert county.persons, "the demo households have persons"
    loaded = load_demo(
        county,
        needs_url=stack.url("needs"),
        resources_url=stack.url("resources"),
        token=stack.token(Role.ADMIN, sub="demo-loader"),
    )
    assert len(loaded.person_ids) == len(county.persons) and loaded.referral_ids
    users = {u["username"]: u for u in demo_users(DEFAULT_COUNTY)}
    needs = stack.url("needs")
    with stack.client(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY, sub=DEMO_WORKER) as worker:
        due = worker.get(f"{needs}/visits/due", params={"station": DEFAULT_COUNTY}).json()
        assert due["total"] > 0
    coordinator = users["demo-coordinator"]
    with stack.client(Role.COORDINATOR, organization=coordinator["organization"]) as client:
        answers = client.get(f"{needs}/referrals").json()
        assert {r["id"] for r in answers["items"]} & set(loaded.referral_ids)
    reviewer = users["demo-reviewer"]
    scope = {"department": reviewer["department"], "adcode": reviewer["adcode"]}
    with stack.client(Role.ALLIANCE_REVIEWER, **scope) as client:
        queue = client.get(f"{needs}/referrals/review-queue").json()
        assert {r["id"] for r in queue["items"]} & set(loaded.referral_ids)
