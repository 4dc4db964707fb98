"""The main loop in a real browser, on the real stack: a social worker records a need, finds
resources and refers; the alliance reviewer approves; the coordinator accepts and starts; the
social worker records the outcome. In zh-CN and en, at desktop and phone sizes, with a
screenshot of each main page, and no request to any host but 127.0.0.1."""

import re

import pytest

from shared import taxonomy
from shared.auth import Role
from tests.console.conftest import ConsoleStack, Visit

pytestmark = pytest.mark.integration

LABELS = {
    "zh-CN": {"caseload": "我的个案", "review": "审核队列", "incoming": "待接转介"},
    "en": {"caseload": "My caseload", "review": "Review queue", "incoming": "Incoming referrals"},
}
DEPARTMENT = {"zh-CN": "民政", "en": "Civil affairs"}


def _state(console: ConsoleStack, referral_id: str) -> str:
    with console.api(Role.SOCIAL_WORKER, adcode="511523") as client:
        return str(client.get(f"/referrals/{referral_id}").json()["state"])


# Each language and each size once (a locale and a viewport change different things: labels,
# layout): the other two pairings took 32 s of the suite and covered nothing more.
@pytest.mark.parametrize(
    "visit",
    [("zh-CN", "desktop"), ("en", "phone")],
    indirect=True,
    ids=["zh-desktop", "en-phone"],
)
def test_need_to_completed_referral_across_three_roles(visit: Visit, console: ConsoleStack) -> None:
    page, labels = visit.page, LABELS[visit.locale]
    category = taxonomy.CATEGORIES[console.resource_category]
    category_label = category.zh if visit.locale == "zh-CN" else category.en

    # The social worker: caseload, a new household, a need (a refused save keeps the input).
    visit.sign_in("sw", "/caseload")
    assert page.locator("html").get_attribute("lang") == visit.locale
    page.get_by_text(labels["caseload"]).first.wait_for()
    visit.shot("caseload")
    page.click("[data-test=new-household]")
    page.fill("input[name=address]", "四川省宜宾市江安县江安镇柏杨村3组")
    page.click("[data-test=save-household]")
    page.wait_for_url(re.compile(r".*/households/[^/]+$"))
    # A member, and a home visit that changes the tier (a field page: phone too).
    page.click("[data-test=new-person]")
    page.fill("[data-test=person-form] input[name=name]", "张桂兰")
    page.click("[data-test=save-person]")
    page.locator("[data-test=record-visit]").first.click()
    page.fill("textarea[name=findings]", "独居,行动不便")
    visit.pick("visit-tier", "2")
    page.click("[data-test=save-visit]")
    page.locator("[data-test=visit-form]").wait_for(state="hidden")
    member = page.locator("[data-test=persons] .el-table__row", has_text="张桂兰")
    # The tier the visit set, once the members are read again.
    member.locator("td").filter(has_text=re.compile(r"^\s*2\s*$")).first.wait_for()
    visit.shot("household")
    household_url = page.url
    # Found again by the member's exact name (blind index, in a POST body).
    page.goto("/households")
    page.fill("input[name=lookup]", "张桂兰")
    page.click("[data-test=households-search]")
    page.locator("[data-test=households] .el-table__row", has_text="柏杨村3组").first.wait_for()
    visit.shot("households")
    page.goto(household_url)
    page.click("[data-test=new-need]")
    page.fill("textarea[name=description]", "老人独居,水电费用困难")
    page.click("[data-test=save-need]")  # no category: the API refuses, the field says why
    error = page.locator("[data-test=need-form] .el-form-item__error").first
    error.wait_for()
    assert error.inner_text().strip()
    assert page.input_value("textarea[name=description]") == "老人独居,水电费用困难"
    visit.shot("household-need-error")
    page.reload()  # a refresh keeps the sign-in and what was typed
    page.click("[data-test=new-need]")
    assert page.input_value("textarea[name=description]") == "老人独居,水电费用困难"
    visit.pick("need-category", category_label, type_to_filter=True)
    page.click("[data-test=save-need]")
    page.wait_for_url(re.compile(r".*/needs/[^/]+$"))
    need_id = page.url.rsplit("/", 1)[1]

    # Find resources: ranked, with bars; refer to the coordinator's resource.
    page.click("[data-test=find-resources]")
    ours = page.locator("[data-test^=match-]", has_text=console.resource_name)
    ours.first.wait_for()
    assert page.locator("[data-test=matches] .el-progress").count() >= 5
    visit.shot("matches")
    ours.first.locator("[data-test^=refer-]").click()
    page.fill("textarea[name=note]", "请尽快联系户主")
    if page.locator("textarea[name=override_reason]").is_visible():
        page.fill("textarea[name=override_reason]", "该机构离家最近,已电话确认可以服务")
    visit.pick("review-departments", DEPARTMENT[visit.locale])
    page.click("[data-test=save-referral]")
    page.locator("[data-test=need-referrals] [data-state=pending_review]").wait_for()
    with console.api(Role.SOCIAL_WORKER, adcode="511523") as client:
        listed = client.get("/referrals", params={"need_id": need_id}).json()["items"]
    referral_id = listed[0]["id"]
    visit.sign_out()

    # The alliance reviewer approves, seeing the frozen explanation.
    visit.sign_in("reviewer", "/review")
    page.get_by_text(labels["review"]).first.wait_for()
    visit.shot("review-queue")
    page.click(f"[data-test=open-review][data-referral='{referral_id}']")
    page.locator(".el-drawer .el-progress").first.wait_for()
    visit.shot("review-detail")
    page.click("[data-test=approve]")
    page.locator(f"[data-test=open-review][data-referral='{referral_id}']").wait_for(
        state="detached"
    )
    assert _state(console, referral_id) == "sent"
    visit.sign_out()

    # The coordinator accepts and starts the service.
    visit.sign_in("coordinator", "/incoming")
    page.get_by_text(labels["incoming"]).first.wait_for()
    row = page.locator(f".referral-actions[data-referral='{referral_id}']")
    row.locator("[data-test=accept]").click()
    row.locator("[data-test=start]").click()
    row.locator("[data-test=start]").wait_for(state="detached")
    visit.shot("incoming")
    assert _state(console, referral_id) == "in_progress"
    visit.sign_out()

    # The social worker records the outcome and the resident's satisfaction.
    visit.sign_in("sw", "/caseload")
    page.goto(f"/needs/{need_id}")
    page.locator(f".referral-actions[data-referral='{referral_id}'] [data-test=complete]").click()
    page.click("[data-test=result-met]")
    page.locator("[data-test=outcome-form] .el-rate__item").nth(4).click()
    page.click("[data-test=save-outcome]")
    page.locator("[data-test=need-referrals] [data-state=completed]").wait_for()
    visit.shot("need-completed")
    with console.api(Role.SOCIAL_WORKER, adcode="511523") as client:
        done = client.get(f"/referrals/{referral_id}").json()
    assert (done["state"], done["outcome_result"], done["satisfaction"]) == ("completed", "met", 5)
    visit.sign_out()

    # The county hub's pages answer.
    visit.sign_in("hub", "/overdue")
    visit.shot("hub-overdue")
    page.goto("/overrides")
    page.locator("[data-test=overrides]").wait_for()
    visit.shot("hub-overrides")
    page.goto("/referrals")
    page.locator("[data-test=referrals] .el-table__expand-icon").first.click()
    page.locator("[data-test=audit-trail] .el-table__row").first.wait_for()
    visit.shot("hub-audit")

    assert visit.hosts <= {"127.0.0.1"}, f"requests left 127.0.0.1: {sorted(visit.hosts)}"


@pytest.mark.parametrize("visit", [("zh-CN", "desktop")], indirect=True, ids=["zh-desktop"])
def test_coordinator_registers_and_deactivates_a_resource(
    visit: Visit, console: ConsoleStack
) -> None:
    page = visit.page
    visit.sign_in("coordinator", "/incoming")
    page.click("[data-test=menu-resources]")
    page.wait_for_url("**/resources")
    page.click("[data-test=new-resource]")
    name = "链接测试法律援助站"
    page.fill("[data-test=resource-form] input[name=name]", name)
    page.click("[data-test=save-resource]")  # no category, no place: the API names the fields
    errors = page.locator("[data-test=resource-form] .el-form-item__error")
    errors.first.wait_for()
    assert errors.count() >= 2
    assert page.input_value("[data-test=resource-form] input[name=name]") == name
    visit.shot("resource-errors")
    visit.pick("resource-categories", "法律咨询", type_to_filter=True)
    page.fill("[data-test=resource-lat] input", "28.72")
    page.fill("[data-test=resource-lon] input", "105.06")
    page.click("[data-test=save-resource]")
    page.locator("[data-test=resource-form]").wait_for(state="hidden")
    row = page.locator("[data-test=resources] .el-table__row", has_text=name)
    visit.pick("resource-filter-category", "法律咨询", type_to_filter=True)
    page.click("[data-test=resource-search]")
    row.wait_for()
    visit.shot("resources")
    row.locator("[data-test=toggle-active]").click()
    row.locator("td", has_text="否").wait_for()
    with console.stack.client(Role.COORDINATOR, organization="demo") as client:
        listed = client.get(
            f"{console.stack.url('resources')}/resources",
            params={"category": "legal_aid.consultation", "active": "false"},
        ).json()["items"]
    assert [r["name"] for r in listed if r["name"] == name] == [name]
    assert visit.hosts <= {"127.0.0.1"}, sorted(visit.hosts)
