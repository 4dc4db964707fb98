"""A station's daily work on the real stack (issue 16): find a resident by ID number and by
name, correct an address and read the history; import a ledger of households with members,
re-import a changed copy (created / updated / unchanged counts, no duplicates); GBK and XLSX.
Also issue 13 items 6 and 7: the area is checked on every create and edit, and who-did-it
fields come from the token."""

import csv
import io
import time
import uuid
from typing import Any

import httpx
import openpyxl

from cli.stack import Stack
from shared.auth import Role
from tests.support.factories import JIANGAN_TOWN, resident_id

OTHER_TOWN = "511523105"  # 留耕镇, same county


def _worker(stack: Stack, town: str = JIANGAN_TOWN, sub: str | None = None) -> httpx.Client:
    return stack.client(Role.SOCIAL_WORKER, adcode=town, sub=sub or f"sw-{uuid.uuid4().hex[:8]}")


def _household(client: httpx.Client, stack: Stack, **overrides: Any) -> dict[str, Any]:
    body = {
        "address": "江安县江安镇红星村3组12号",
        "station_adcode": JIANGAN_TOWN,
        "hardship_categories": ["低保"],
    } | overrides
    response = client.post(f"{stack.url('needs')}/households", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_worker_finds_a_resident_by_id_number_and_name_and_edits_the_address(
    stack: Stack,
) -> None:
    needs = stack.url("needs")
    name = f"王{uuid.uuid4().hex[:6]}"
    number = resident_id(born="19480203", serial=f"{uuid.uuid4().int % 900 + 100:03d}")
    with _worker(stack) as client:
        home = _household(client, stack)
        assert home["social_worker"] is not None  # the caller, from the token
        made = client.post(
            f"{needs}/households/{home['id']}/persons",
            json={"name": name, "resident_id": number, "is_head": True, "groups": ["独居老人"]},
        )
        assert made.status_code == 201, made.text
        person = made.json()

        by_number = client.post(f"{needs}/persons/search", json={"resident_id": number.lower()})
        assert by_number.status_code == 200, by_number.text
        assert [p["id"] for p in by_number.json()["items"]] == [person["id"]]
        assert by_number.json()["total"] == 1
        by_name = client.post(f"{needs}/persons/search", json={"name": f" {name} "})
        assert [p["id"] for p in by_name.json()["items"]] == [person["id"]]
        homes = client.post(f"{needs}/households/search", json={"name": name})
        assert [h["id"] for h in homes.json()["items"]] == [home["id"]]
        listed = client.get(f"{needs}/persons", params={"group": "独居老人", "limit": 200})
        assert listed.status_code == 200, listed.text
        assert person["id"] in {p["id"] for p in listed.json()["items"]}
        assert set(listed.json()) == {"items", "total", "limit", "offset"}

        read = client.get(f"{needs}/households/{home['id']}")
        etag = read.headers["ETag"]
        moved = client.patch(
            f"{needs}/households/{home['id']}",
            json={"address": "江安县江安镇红星村5组1号", "hardship_categories": ["低保边缘"]},
            headers={"If-Match": etag},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["version"] == read.json()["version"] + 1
        stale = client.patch(
            f"{needs}/households/{home['id']}", json={"address": "x"}, headers={"If-Match": etag}
        )
        assert stale.status_code == 412
        history = client.get(f"{needs}/households/{home['id']}/history").json()
        [change] = history["items"]
        assert change["fields"] == ["address", "hardship_categories"]
        assert change["actor"] and change["role"] == "social_worker"
        assert "红星村" not in str(history)  # field names, never the values

        phone = client.patch(f"{needs}/persons/{person['id']}", json={"phone": "13800001111"})
        assert phone.status_code == 200, phone.text
        person_history = client.get(f"{needs}/persons/{person['id']}/history").json()
        assert [c["fields"] for c in person_history["items"]] == [["phone"]]
    with stack.client(Role.COUNTY_HUB, adcode=JIANGAN_TOWN[:6]) as hub:
        seen = hub.get(f"{needs}/households/{home['id']}/history")
        assert seen.status_code == 200 and seen.json()["total"] == 1
    with _worker(stack, OTHER_TOWN) as other:
        found = other.post(f"{needs}/persons/search", json={"resident_id": number})
        assert found.json()["total"] == 0  # another station's resident is not found


def test_the_area_is_checked_on_create_and_on_edit(stack: Stack) -> None:
    needs = stack.url("needs")
    with _worker(stack) as client:
        beijing = client.post(
            f"{needs}/households",
            json={"address": "北京市朝阳区建国路1号", "hardship_categories": []},
        )
        assert beijing.status_code == 403, beijing.text
        assert beijing.json()["field"] == "adcode"
        elsewhere = client.post(
            f"{needs}/households",
            json={"address": "江安县江安镇红星村1组", "station_adcode": OTHER_TOWN},
        )
        assert elsewhere.status_code == 403, elsewhere.text
        assert elsewhere.json()["rule"] == "scope"
        home = _household(client, stack)
        moved = client.patch(
            f"{needs}/households/{home['id']}", json={"address": "北京市朝阳区建国路1号"}
        )
        assert moved.status_code == 403, moved.text
        assert client.get(f"{needs}/households/{home['id']}").json()["address"] == home["address"]


def test_who_did_it_fields_come_from_the_token(stack: Stack) -> None:
    needs = stack.url("needs")
    with _worker(stack, sub="sw-self") as client:
        named = client.post(
            f"{needs}/households",
            json={"address": "江安县江安镇红星村2组", "social_worker": "someone-else"},
        )
        assert named.status_code == 403
        assert (named.json()["rule"], named.json()["field"]) == ("set_by_token", "social_worker")
        home = _household(client, stack)
        assert home["social_worker"] == "sw-self"
        person = client.post(
            f"{needs}/households/{home['id']}/persons",
            json={
                "name": "赵六",
                "consent": {"given_on": "2026-01-05", "scope": ["case_file"], "recorded_by": "x"},
            },
        )
        assert person.status_code == 403 and person.json()["field"] == "recorded_by"
    with stack.client(Role.STATION_LEAD, adcode=JIANGAN_TOWN) as lead:
        home = _household(lead, stack, social_worker="sw-self")
        assert home["social_worker"] == "sw-self"  # a lead assigns the worker in charge


LEDGER_HEADERS = [
    "户编号",
    "姓名",
    "与户主关系",
    "身份证号",
    "联系电话",
    "家庭住址",
    "困难类型",
    "人员类别",
    "所属社工站",
]


def _ledger_rows(tag: str) -> list[list[str]]:
    """Three households, five persons: one member and one head without an ID number."""
    rows = []
    for h in range(3):
        key = f"{tag}-{h}"
        address = f"江安县江安镇{tag}村{h + 1}组"
        head_id = resident_id(born=f"195{h}0101", serial=f"{int(tag, 16) % 400 * 2 + 1:03d}")
        rows.append([key, f"户主{tag}{h}", "户主", head_id if h != 2 else "", "", address,
                     "低保", "", JIANGAN_TOWN])  # fmt: skip
        if h < 2:
            rows.append([key, f"成员{tag}{h}", "子女", "", "", "", "", "留守儿童", JIANGAN_TOWN])
    return rows


def _csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig", title: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if title:
        writer.writerow(["江安镇社工站困难群众台账（2026年11月）"])
    writer.writerow(LEDGER_HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _import(client: httpx.Client, stack: Stack, data: bytes) -> dict[str, Any]:
    sent = client.post(f"{stack.url('needs')}/households/import?file_name=ledger", content=data)
    assert sent.status_code == 202, sent.text
    where = stack.url("needs") + sent.headers["Location"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(where).json()
        if job["state"] != "running":
            assert job["state"] == "done", job
            assert job["processed"] == job["total"]
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError("the import did not finish")


def test_a_ledger_with_members_imports_and_a_changed_copy_reimports_without_duplicates(
    stack: Stack,
) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = _ledger_rows(tag)
    with _worker(stack) as client:
        first = _import(client, stack, _csv_bytes(rows, "gbk", title=True))
        assert (first["created"], first["updated"], first["unchanged"], first["refused"]) == (
            5,
            0,
            0,
            0,
        ), first["rows"]
        homes = {r["household_id"] for r in first["rows"]}
        assert len(homes) == 3

        rows[0][4] = "13800002222"  # a head's phone changes
        rows[1][7] = "困境儿童"  # a member's group changes
        rows[4][6] = "特困"  # the head without an ID number: the household's hardship changes
        rows.append([f"{tag}-0", f"新成员{tag}", "配偶", "", "", "", "", "", JIANGAN_TOWN])
        wb = openpyxl.Workbook()
        sheet = wb.active
        assert sheet is not None
        sheet.append(["台账"])
        sheet.append(LEDGER_HEADERS)
        for row in rows:
            sheet.append(row)
        data = io.BytesIO()
        wb.save(data)
        second = _import(client, stack, data.getvalue())
        outcomes = {r["row"]: r["outcome"] for r in second["rows"]}
        assert (second["created"], second["updated"], second["unchanged"], second["refused"]) == (
            1,
            3,
            2,
            0,
        ), [(r["row"], r["outcome"], r["fields"], r["errors"]) for r in second["rows"]]
        assert outcomes[3] == "updated" and outcomes[8] == "created"
        assert {r["household_id"] for r in second["rows"]} == homes  # no second copy

        third = _import(client, stack, _csv_bytes(rows))
        assert third["unchanged"] == 6 and third["created"] == 0, third["rows"]
        found = client.get(
            f"{stack.url('needs')}/households", params={"station": JIANGAN_TOWN, "limit": 200}
        ).json()
        assert sum(1 for h in found["items"] if h["id"] in homes) == 3


def test_the_cli_imports_through_the_api_and_shows_tables_with_chinese_labels(
    stack: Stack, tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    tag = uuid.uuid4().hex[:6]
    rows = _ledger_rows(tag)
    rows.append([f"{tag}-9", "", "户主", "", "", "江安县江安镇", "", "", JIANGAN_TOWN])  # no name
    ledger = tmp_path / "台账.csv"
    ledger.write_bytes(_csv_bytes(rows, "gbk", title=True))
    token = stack.token(Role.SOCIAL_WORKER, adcode=JIANGAN_TOWN, sub="sw-cli")
    common = ["--url", stack.url("needs"), "--token", token]
    runner = CliRunner()
    imported = runner.invoke(app, ["needs", "import", str(ledger), *common])
    assert imported.exit_code == 1, imported.output  # one row refused
    assert "新建 5 (created)" in imported.output and "拒绝 1" in imported.output
    assert "[missing]" in imported.output  # the rule, not swallowed as markup
    listed = runner.invoke(app, ["needs", "persons", "--name", f"户主{tag}0", *common])
    assert listed.exit_code == 0, listed.output
    assert "姓名" in listed.output and "共 1 条" in listed.output
    as_json = runner.invoke(app, ["needs", "persons", "--name", f"户主{tag}0", "--json", *common])
    assert json_total(as_json.output) == 1
    hub = stack.token(Role.COUNTY_HUB, adcode=JIANGAN_TOWN[:6])
    queue = runner.invoke(app, ["referrals", "queue", "--url", stack.url("needs"), "--token", hub])
    assert queue.exit_code == 0, queue.output  # options after the command, as on `needs`
    assert "waiting for review" in queue.output


def json_total(output: str) -> int:
    import json

    return int(json.loads(output)["total"])
