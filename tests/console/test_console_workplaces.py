"""The coordinator's, the reviewer's and the county hub's own pages in a real browser, on the
real stack: our resources and a spreadsheet import with per-row results; micro-wishes to claim
(接单), a claim someone else made first, and ours to complete; the joint review's status on a
referral; the hub's users. Screenshots kept; no request to any host but 127.0.0.1."""

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from cli.stack import free_port
from services.resources.csv_io import COLUMNS
from shared.auth import Role
from shared.demo import DEFAULT_COUNTY
from tests.console.conftest import (
    ARTIFACTS,
    ORGANIZATION,
    PASSWORD,
    ConsoleStack,
    Visit,
    only_local,
    running_console,
)

pytestmark = pytest.mark.integration

TOWN = f"{DEFAULT_COUNTY}101"
OTHER = "链接测试另一家慈善会"
HEADER_OF = {key: zh for zh, key in COLUMNS}


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def _household(console: ConsoleStack) -> str:
    with console.api(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY) as client:
        body = {
            "address": "四川省宜宾市江安县江安镇柏杨村5组",
            "adcode": TOWN,
            "location": {"lat": 28.7238, "lon": 105.0668},
        }
        return str(_ok(client.post("/households", json=body), 201)["id"])


def _need(console: ConsoleStack, household_id: str, category: str, description: str) -> str:
    body = {
        "household_id": household_id,
        "category": category,
        "description": description,
        "urgency": 5,
    }
    with console.api(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY) as client:
        return str(_ok(client.post("/needs", json=body), 201)["id"])


def _resource_id(console: ConsoleStack) -> str:
    with console.stack.client(Role.COORDINATOR, organization=ORGANIZATION) as client:
        listed = _ok(
            client.get(
                f"{console.stack.url('resources')}/resources",
                params={"organization": ORGANIZATION, "category": console.resource_category},
            )
        )
    return str(next(r["id"] for r in listed["items"] if r["name"] == console.resource_name))


def _spreadsheet(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    keys = list(rows[0])
    writer = csv.writer(out)
    writer.writerow([HEADER_OF[k] for k in keys])
    writer.writerows([[row[k] for k in keys] for row in rows])
    return out.getvalue().encode("utf-8")


def _row(
    name: str, *, organization: str = ORGANIZATION, lat: str = "28.73", lon: str = "105.07"
) -> dict[str, str]:
    return {
        "name": name,
        "kind": "charity",
        "organization": organization,
        "categories": "basic_living.utilities",
        "lat": lat,
        "lon": lon,
        "radius_km": "20",
        "capacity_total": "5",
    }


@pytest.mark.parametrize("visit", [("zh-CN", "desktop")], indirect=True, ids=["zh-desktop"])
def test_coordinator_sees_our_resources_and_imports_a_spreadsheet(
    visit: Visit, console: ConsoleStack, tmp_path: Path
) -> None:
    page = visit.page
    visit.sign_in("coordinator", "/incoming")
    page.click("[data-test=menu-resources]")
    rows = page.locator("[data-test=resources] .el-table__row")
    rows.filter(has_text=console.resource_name).wait_for()
    # Our organization's only, by default: the demo county's other resources are not listed.
    with console.stack.client(Role.COORDINATOR, organization=ORGANIZATION) as client:
        url = f"{console.stack.url('resources')}/resources"
        ours = _ok(client.get(url, params={"organization": ORGANIZATION, "limit": 200}))
        library = _ok(client.get(url, params={"limit": 1}))["total"]
    assert 0 < ours["total"] < library
    assert rows.count() == min(ours["total"], 20)
    visit.shot("resources-ours")
    page.click("[data-test=scope-library]")
    page.locator(".el-pagination__total", has_text=str(library)).wait_for()
    page.click("[data-test=scope-ours]")
    page.locator(".el-pagination__total", has_text=str(ours["total"])).wait_for()

    # A spreadsheet of three rows: two are imported, one is refused naming field and rule.
    tag = uuid.uuid4().hex[:6]
    good = [f"链接导入助学点{tag}", f"红星村老年食堂{tag}"]
    sheet = tmp_path / "resources.csv"
    sheet.write_bytes(
        _spreadsheet(
            [
                _row(good[0]),
                _row(f"坐标有误{tag}", lat="九十一"),
                _row(good[1], lat="28.61", lon="104.93"),
            ]
        )
    )
    page.click("[data-test=import-resources]")
    page.set_input_files("[data-test=import-file]", str(sheet))
    page.click("[data-test=import-start]")
    dialog = page.locator("[data-test=import-dialog]")
    dialog.locator("[data-test=import-rows]").wait_for()
    assert dialog.locator("[data-test=import-progress] .el-progress").is_visible()
    counts = dialog.locator("[data-test=import-counts]")
    assert "2" in counts.locator("[data-status=accepted]").inner_text()
    assert "1" in counts.locator("[data-status=rejected]").inner_text()
    # Only the refused row is shown at first, with the field and the rule that refused it.
    refused = dialog.locator("[data-test=import-rows] .el-table__row")
    assert refused.count() == 1
    assert refused.locator("[data-status=rejected]").count() == 1
    assert "lat" in refused.inner_text() and "第 3 行" in refused.inner_text()
    assert "应为数字" in refused.inner_text(), "the row's message in the user's language"
    visit.shot("resources-import")
    with console.stack.client(Role.COORDINATOR, organization=ORGANIZATION) as client:
        names = {
            r["name"]
            for r in _ok(client.get(url, params={"organization": ORGANIZATION, "limit": 200}))[
                "items"
            ]
        }
    assert set(good) <= names and f"坐标有误{tag}" not in names

    # A file naming another organization is refused whole: the rows that did are listed.
    other = tmp_path / "other.csv"
    other.write_bytes(_spreadsheet([_row(f"别家{tag}", organization=OTHER)]))
    page.set_input_files("[data-test=import-file]", str(other))
    page.click("[data-test=import-start]")
    dialog.locator("[data-test=import-refused]").wait_for()
    assert "organization" in dialog.locator("[data-test=import-refused]").inner_text()
    visit.shot("resources-import-refused")
    assert visit.hosts <= {"127.0.0.1"}, sorted(visit.hosts)


@pytest.mark.parametrize(
    "visit", [("zh-CN", "desktop"), ("en", "phone")], indirect=True, ids=["zh-desktop", "en-phone"]
)
def test_coordinator_claims_a_micro_wish_and_completes_it(
    visit: Visit, console: ConsoleStack
) -> None:
    page = visit.page
    tag = uuid.uuid4().hex[:6]
    household = _household(console)
    ours_wish = _need(console, household, "micro_wish.goods", f"想要一个新书包 {tag}")
    taken_wish = _need(console, household, "micro_wish.goods", f"想要一套绘本 {tag}")
    visit.sign_in("coordinator", "/incoming")
    page.goto("/wishes")  # on a phone the menu is folded away
    page.locator(f"[data-test=claim][data-need='{taken_wish}']").wait_for()
    page.locator(f"[data-test=claim][data-need='{ours_wish}']").wait_for()
    visit.shot("wishes")

    # Another organization claims one while the page is open.
    other = f"{OTHER}-{tag}"
    resources = console.stack.url("resources")
    with console.stack.client(Role.COORDINATOR, organization=other) as client:
        body = {
            "name": f"{other}助学队",
            "kind": "volunteer",
            "organization": other,
            "categories": ["micro_wish.goods"],
            "location": {"lat": 28.7238, "lon": 105.0668},
            "radius_km": 60,
            "capacity": {"total": 5, "unit": "persons", "period": "month"},
        }
        theirs = _ok(client.post(f"{resources}/resources", json=body), 201)["id"]
        claim = {"resource_id": theirs, "resource_name": body["name"], "resource_kind": "volunteer"}
        url = f"{console.stack.url('needs')}/needs/{taken_wish}/claims"
        their_claim = _ok(client.post(url, json=claim), 201)["id"]

    # Ours comes second: the page says whose claim it is and drops the wish from the list.
    page.click(f"[data-test=claim][data-need='{taken_wish}']")
    visit.pick("claim-resource", console.resource_name)
    page.click("[data-test=save-claim]")
    taken = page.locator("[data-test=wish-taken]")
    taken.wait_for()
    assert their_claim in taken.inner_text() and body["name"] in taken.inner_text()
    page.locator(f"[data-test=claim][data-need='{taken_wish}']").wait_for(state="detached")
    visit.shot("wishes-taken")

    # The other wish is ours: claimed, started, completed.
    page.click(f"[data-test=claim][data-need='{ours_wish}']")
    visit.pick("claim-resource", console.resource_name)
    page.fill("[data-test=claim-form] textarea[name=note]", "周六送到村委会")
    page.click("[data-test=save-claim]")
    with console.api(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY) as client:
        claims = _ok(client.get("/referrals", params={"need_id": ours_wish}))["items"]
    # The claim is made by the time the claimed tab lists it.
    row = page.locator("[data-test=claims] .el-table__row", has_text=tag)
    row.wait_for()
    with console.api(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY) as client:
        claims = _ok(client.get("/referrals", params={"need_id": ours_wish}))["items"]
    assert [(c["origin"], c["state"]) for c in claims] == [("micro_wish", "accepted")]
    actions = page.locator(f".referral-actions[data-referral='{claims[0]['id']}']")
    actions.locator("[data-test=start]").click()
    actions.locator("[data-test=complete]").click()
    page.click("[data-test=result-met]")
    page.click("[data-test=save-outcome]")
    page.locator("[data-test=claims] [data-state=completed]").wait_for()
    page.locator("[data-test=outcome-form]").wait_for(state="hidden")
    visit.shot("wishes-claimed")
    with console.api(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY) as client:
        done = _ok(client.get(f"/referrals/{claims[0]['id']}"))
    assert (done["state"], done["outcome_result"]) == ("completed", "met")
    assert visit.hosts <= {"127.0.0.1"}, sorted(visit.hosts)


@pytest.mark.parametrize("visit", [("zh-CN", "desktop")], indirect=True, ids=["zh-desktop"])
def test_reviewer_sees_each_departments_decision_in_the_joint_review(
    visit: Visit, console: ConsoleStack
) -> None:
    page = visit.page
    household = _household(console)
    need = _need(console, household, console.resource_category, "水电费用困难")
    body = {
        "need_id": need,
        "resource_id": _resource_id(console),
        "resource_name": console.resource_name,
        "resource_kind": "charity",
        "override_reason": "已电话确认可以服务",
        "review_departments": ["civil_affairs", "health"],
    }
    with console.api(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY) as client:
        referral = _ok(client.post("/referrals", json=body), 201)["id"]
    with console.api(Role.ALLIANCE_REVIEWER, department="health", adcode=DEFAULT_COUNTY) as client:
        decision = {"department": "health", "decision": "approve", "comment": "符合医疗救助条件"}
        _ok(client.post(f"/referrals/{referral}/review", json=decision))

    visit.sign_in("reviewer", "/review")
    page.click(f"[data-test=open-review][data-referral='{referral}']")
    joint = page.locator(".el-drawer [data-test=joint-review]")
    joint.wait_for()
    assert joint.locator("[data-department=health]").get_attribute("data-decision") == "approved"
    mine = joint.locator("[data-department=civil_affairs]")
    assert mine.get_attribute("data-decision") == "pending"
    summary = joint.locator("[data-test=joint-summary]").inner_text()
    assert "1/2" in summary and "民政" in summary, summary
    assert "符合医疗救助条件" in joint.inner_text() and "本部门" in joint.inner_text()
    visit.shot("review-joint")
    page.click("[data-test=approve]")
    page.locator(f"[data-test=open-review][data-referral='{referral}']").wait_for(state="detached")
    with console.api(Role.SOCIAL_WORKER, adcode=DEFAULT_COUNTY) as client:
        assert _ok(client.get(f"/referrals/{referral}"))["state"] == "sent"
    assert visit.hosts <= {"127.0.0.1"}, sorted(visit.hosts)


@pytest.mark.parametrize("visit", [("zh-CN", "desktop")], indirect=True, ids=["zh-desktop"])
def test_hub_adds_and_deactivates_a_user_of_its_county(visit: Visit, console: ConsoleStack) -> None:
    page = visit.page
    visit.sign_in("hub", "/overdue")
    page.click("[data-test=menu-users]")
    users = page.locator("[data-test=users] .el-table__row")
    users.filter(has_text=console.users["sw"]).wait_for()
    assert users.filter(has_text=console.users["coordinator"]).count() == 0  # no county of ours
    page.click("[data-test=new-user]")
    form = page.locator("[data-test=user-form]")
    form.locator("input[name=username]").fill("新 社工")
    form.locator("input[name=password]").fill("short")
    page.click("[data-test=save-user]")  # the API names both fields; nothing typed is lost
    errors = form.locator(".el-form-item__error")
    errors.first.wait_for()
    assert errors.count() >= 2
    assert form.locator("input[name=username]").input_value() == "新 社工"
    visit.shot("users-errors")
    name = f"console-new-{uuid.uuid4().hex[:6]}"
    form.locator("input[name=username]").fill(name)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("input[name=adcode]").fill(TOWN)
    page.click("[data-test=save-user]")
    form.wait_for(state="hidden")
    row = users.filter(has_text=name)
    row.wait_for()
    sign_in = {"username": name, "password": PASSWORD}
    needs = console.stack.url("needs")
    with console.stack.client(Role.ADMIN) as client:
        assert client.post(f"{needs}/auth/token", json=sign_in).status_code == 200
    row.locator("[data-test=deactivate-user]").click()
    page.locator(".el-popconfirm .el-button--primary").click()
    row.locator("[data-active=false]").wait_for()
    visit.shot("users")
    with console.stack.client(Role.ADMIN) as client:
        assert client.post(f"{needs}/auth/token", json=sign_in).status_code == 401
    assert visit.hosts <= {"127.0.0.1"}, sorted(visit.hosts)


def test_a_resources_service_that_does_not_answer_shows_retry_on_the_coordinators_pages(
    browser: Any, console: ConsoleStack, tmp_path: Path
) -> None:
    """The resources service down, the needs service up: the coordinator's resources, the
    import and the claim dialog each say to retry, and nothing on the page goes blank."""
    upstreams = {
        "needs": console.stack.url("needs"),
        "matcher": console.stack.url("matcher"),
        "resources": f"http://127.0.0.1:{free_port()}",
    }
    household = _household(console)
    wish = _need(
        console, household, "micro_wish.experience", f"想去县城看电影 {uuid.uuid4().hex[:6]}"
    )
    hosts: set[str] = set()
    with running_console(upstreams) as url:
        context = browser.new_context(base_url=url, locale="zh-CN")
        context.route("**/*", only_local(hosts))
        context.set_default_timeout(20_000)
        page = context.new_page()
        try:
            page.goto("/login")
            page.fill("input[name=username]", console.users["coordinator"])
            page.fill("input[name=password]", PASSWORD)
            page.click("[data-test=sign-in]")
            page.wait_for_url("**/incoming")
            page.goto("/resources")
            alert = page.locator("[data-test=service-alert]").first
            alert.wait_for()
            assert "服务暂时没有响应" in alert.inner_text()
            assert page.locator("[data-test=retry]").first.is_visible()
            sheet = tmp_path / "one.csv"
            sheet.write_bytes(_spreadsheet([_row("助学点")]))
            page.click("[data-test=import-resources]")
            page.set_input_files("[data-test=import-file]", str(sheet))
            page.click("[data-test=import-start]")
            dialog = page.locator("[data-test=import-dialog]")
            dialog.locator("[data-test=retry]").wait_for()
            assert "服务暂时没有响应" in dialog.inner_text()
            page.keyboard.press("Escape")
            page.goto("/wishes")
            page.click(f"[data-test=claim][data-need='{wish}']")
            claim = page.locator(".el-dialog", has=page.locator("[data-test=claim-form]"))
            claim.locator("[data-test=retry]").wait_for()
            assert "服务暂时没有响应" in claim.inner_text()
            shot = _artifact("zh-CN-desktop-wishes-unavailable.png")
            page.screenshot(path=str(shot), animations="disabled")
        finally:
            context.close()
    assert hosts <= {"127.0.0.1"}, sorted(hosts)


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
