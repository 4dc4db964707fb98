"""Resource lists as stations keep them: a GBK CSV with a title line and Chinese values
(社会组织, 人, 月, 服务对象 老年人、残疾人, 服务时间 周一至周五 08:30-17:30 / 工作日 / 每天) and an
XLSX workbook import like the API takes them; exports are in Chinese and read back the same."""

import csv
import io
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from services.resources import importing
from tests.resources.test_import_export import export, import_file, library

HEADER = [
    "名称", "类型", "所属组织", "服务类别", "纬度", "经度", "服务半径(公里)",
    "服务对象", "容量", "容量单位", "容量周期", "满额处理", "服务时间",
]  # fmt: skip
ROWS = [
    [
        "江安镇长者食堂", "社会组织", "江安县养老服务中心", "助餐送餐、探访陪伴", "28.7360",
        "105.0700", "8", "老年人、残疾人", "30", "份", "月", "候补", "周一至周五 08:30-17:30",
    ],
    [
        "阳春镇心理服务站", "政府部门", "", "心理疏导", "28.6500", "105.1000", "12", "",
        "10", "人", "月", "", "工作日",
    ],
    [
        "江安县助残志愿队", "志愿者", "", "日间照料", "28.7000", "105.0500", "20", "残疾人",
        "40", "小时", "周", "停止", "每天",
    ],
    [
        "错误的一行", "社会组织", "", "助餐", "28.7", "105.0", "5", "老年人、外星人",
        "5", "斤", "月", "", "有空就来",
    ],
]  # fmt: skip
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def gbk_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["江安县资源清单（2026年11月）"])  # a title line above the header
    writer.writerow(HEADER)
    writer.writerows(ROWS)
    return out.getvalue().encode("gbk")


def xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in ROWS:
        sheet.append([float(c) if c.replace(".", "").isdigit() else c for c in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def check_imported(client: TestClient, report: dict[str, Any], first_line: int) -> None:
    assert (report["accepted"], report["rejected"]) == (3, 1), report
    bad = next(r for r in report["rows"] if r["status"] == "rejected")
    assert bad["ref"] == f"line {first_line + 3}"
    assert {(e["field"], e["rule"]) for e in bad["errors"]} == {
        ("categories.0", "unknown_category"),
        ("eligible_groups.1", "unknown_group"),
        ("capacity.unit", "unknown_unit"),
        ("hours", "list_type"),
    }
    found = library(client)
    canteen = found["江安镇长者食堂"]
    assert canteen["kind"] == "charity"
    assert canteen["categories"] == ["elderly_care.meals", "elderly_care.companionship"]
    assert canteen["eligible_groups"] == ["elderly", "disabled"]
    assert (canteen["capacity_unit"], canteen["capacity_period"]) == ("portions", "month")
    assert canteen["capacity_mode"] == "waitlist"
    assert canteen["hours"] == [{"day": d, "opens": "08:30", "closes": "17:30"} for d in WEEKDAYS]
    station = found["阳春镇心理服务站"]
    assert (station["kind"], station["capacity_unit"]) == ("department", "persons")
    assert [h["day"] for h in station["hours"]] == WEEKDAYS
    volunteers = found["江安县助残志愿队"]
    assert (volunteers["capacity_unit"], volunteers["capacity_period"]) == ("hours", "week")
    assert len(volunteers["hours"]) == 7


def test_a_gbk_csv_with_a_title_line_and_chinese_values_imports(client: TestClient) -> None:
    assert importing.detect_format(gbk_csv()) == "csv"
    check_imported(client, import_file(client, gbk_csv()), first_line=3)


def test_an_xlsx_resource_list_with_chinese_values_imports(client: TestClient) -> None:
    assert importing.detect_format(xlsx()) == "xlsx"
    check_imported(client, import_file(client, xlsx()), first_line=2)


def test_the_csv_export_is_in_chinese_and_reads_back_the_same(
    client: TestClient, other_client: TestClient
) -> None:
    import_file(client, gbk_csv())
    exported = export(client, "csv")
    assert exported.status_code == 200, exported.text
    lines = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    canteen = next(line for line in lines if line["名称"] == "江安镇长者食堂")
    assert canteen["类型"] == "慈善组织"
    assert canteen["服务类别"] == "助餐送餐; 探访陪伴"
    assert canteen["服务对象"] == "老年人; 残疾人"
    assert (canteen["容量单位"], canteen["容量周期"], canteen["满额处理"]) == ("份", "每月", "候补")
    assert canteen["服务时间"] == "周一至周五 08:30-17:30"
    report = import_file(other_client, exported.content)
    assert report["rejected"] == 0, report
    assert library(other_client) == library(client)


def test_the_xlsx_export_reads_back_the_same(client: TestClient, other_client: TestClient) -> None:
    import_file(client, xlsx())
    exported = export(client, "xlsx")
    assert exported.status_code == 200, exported.text
    assert import_file(other_client, exported.content)["rejected"] == 0
    assert library(other_client) == library(client)
