"""The resources API in Chinese: every field that takes a coded value takes its Chinese label and
stores the code; unknown values are 422 naming the item; errors in Chinese unless English is
asked for; the vocabularies are listed with their labels."""

from fastapi.testclient import TestClient

from tests.support.factories import resource_body

CHINESE = {
    "kind": "社会组织",
    "categories": ["助餐送餐", "探访陪伴"],
    "eligible_groups": ["老年人", "独居老人"],
    "capacity": {"total": 20, "unit": "份", "period": "每月", "mode": "候补"},
}


def test_chinese_labels_are_taken_and_stored_as_codes(client: TestClient) -> None:
    created = client.post("/resources", json=resource_body(**CHINESE))
    assert created.status_code == 201, created.text
    resource = created.json()
    assert resource["kind"] == "charity"
    assert resource["categories"] == ["elderly_care.meals", "elderly_care.companionship"]
    assert resource["eligible_groups"] == ["elderly", "elderly_living_alone"]
    assert (resource["capacity_unit"], resource["capacity_period"], resource["capacity_mode"]) == (
        "portions",
        "month",
        "waitlist",
    )
    url = f"/resources/{resource['id']}"
    patched = client.patch(url, json={"categories": ["心理疏导"], "kind": "爱心企业"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["categories"], patched.json()["kind"]) == (
        ["psychological.counselling"],
        "enterprise",
    )
    put = client.put(url, json=resource_body(categories=["助餐送餐"]), headers={"If-Match": '"2"'})
    assert put.status_code == 200, put.text
    assert put.json()["categories"] == ["elderly_care.meals"]


def test_the_category_filter_takes_the_chinese_label(client: TestClient) -> None:
    client.post("/resources", json=resource_body(**CHINESE))
    client.post("/resources", json=resource_body(name="法律援助站", categories=["legal_aid"]))
    by_label = client.get("/resources", params={"category": "养老服务", "kind": "慈善组织"})
    assert by_label.status_code == 200, by_label.text
    assert [r["name"] for r in by_label.json()["items"]] == ["江安镇爱心助餐点"]
    unknown = client.get("/resources", params={"category": "养老"})
    assert unknown.status_code == 422
    assert [(e["field"], e["rule"]) for e in unknown.json()["errors"]] == [
        ("category", "unknown_category")
    ]


def test_an_unknown_group_is_refused_naming_the_item(client: TestClient) -> None:
    response = client.post("/resources", json=resource_body(eligible_groups=["老年人", "xyz"]))
    assert response.status_code == 422
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [
        ("eligible_groups.1", "unknown_group")
    ]


def test_details_are_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    body = resource_body(categories=["无此类别"], capacity={"total": -1})
    chinese = client.post("/resources", json=body)
    assert chinese.status_code == 422
    problem = chinese.json()
    assert problem["title"] == "输入有误"
    assert "不是分类表中的类别" in problem["detail"]
    assert "应不小于 0" in problem["detail"]
    assert "无此类别" not in problem["detail"]  # the value sent is never echoed
    english = client.post("/resources", json=body, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.json()["title"] == "Validation failed"
    assert "not a category of the vocabulary" in english.json()["detail"]
    rules = {(e["field"], e["rule"]) for e in english.json()["errors"]}
    assert rules == {(e["field"], e["rule"]) for e in problem["errors"]}


def test_a_missing_resource_says_so_in_chinese(client: TestClient) -> None:
    response = client.get("/resources/no-such-id")
    assert response.status_code == 404
    assert response.json()["title"] == "找不到"


def test_every_vocabulary_is_listed_with_chinese_and_english_labels(client: TestClient) -> None:
    for name in ("categories", "groups", "resource-kinds", "hardship-types", "tiers"):
        response = client.get(f"/{name}", headers={"Authorization": ""})
        assert response.status_code == 200, (name, response.text)
        items = response.json()["items"]
        assert items and all(item["zh"] and item["en"] and item["code"] for item in items)
    categories = {c["code"]: c for c in client.get("/categories").json()["items"]}
    assert categories["elderly_care.meals"]["zh"] == "助餐送餐"
    assert categories["elderly_care.meals"]["parent"] == "elderly_care"
