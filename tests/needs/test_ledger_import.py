"""Importing a household ledger (台账): a town's rows with planted bad ones, each row whole or not
at all, and a per-row report of field and rule; the CLI shows progress and writes the report."""

import csv
import random
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli.main import app
from services.needs.ledger_import import HEAD_NAME, HEADERS, import_ledger, read_ledger
from services.needs.models import Household, Person
from shared.actor import Actor
from shared.clock import china_today
from tests.support.factories import resident_id

TOWNS = ["511523101", "511523104", "511523105", "511523108"]
HARDSHIP = ["低保", "低保边缘", "特困", "支出型困难", "临时救助"]
GROUPS = ["独居老人", "留守儿童", "困境儿童", "认知障碍", ""]


def _row(i: int, rng: random.Random) -> dict[str, str]:
    born = date(1930, 1, 1) + timedelta(days=i)
    town = TOWNS[i % len(TOWNS)]
    row = {
        "户主姓名": f"户主{i}",
        "身份证号": resident_id(born=born.strftime("%Y%m%d"), serial=f"{i % 1000:03d}"),
        "联系电话": f"138{i:08d}",
        "家庭住址": f"江安县江安镇红星村{i % 12 + 1}组{i % 60 + 1}号",
        "行政区划代码": town if i % 3 else "",
        "困难类型": HARDSHIP[i % len(HARDSHIP)],
        "服务等级": str(i % 5 + 1),
        "人员类别": GROUPS[i % len(GROUPS)],
        "所属社工站": town,
        "负责社工": "李社工",
        "知情同意日期": "2026-03-01" if i % 2 else "",
    }
    if row["人员类别"] == "认知障碍":  # health data: a separate consent on record (PIPL art. 29)
        row |= {"知情同意日期": "2026-03-01", "敏感信息单独同意": "是"}
    if i % 10 == 0:
        lat, lon = 28.70 + rng.random() / 10, 105.00 + rng.random() / 10
        row |= {"纬度": f"{lat:.6f}", "经度": f"{lon:.6f}", "坐标系": "gcj02"}
    return row


def _plant_bad_rows(rows: list[dict[str, str]]) -> dict[int, tuple[str, str]]:
    """Break one rule in chosen rows; returns the spreadsheet row (index + 2) → (field, rule)."""
    future = (china_today() + timedelta(days=30)).isoformat()
    bad_id = rows[10]["身份证号"][:17] + ("0" if rows[10]["身份证号"][17] != "0" else "1")
    breaks = {
        10: ("身份证号", bad_id, "resident_id_checksum"),
        20: ("身份证号", "", None),
        50: ("困难类型", "有钱", "unknown_hardship"),
        70: ("服务等级", "7", "unknown_tier"),
        90: ("行政区划代码", "999999", "unknown_adcode"),
        110: ("纬度", "95", "less_than_equal"),
        130: ("身份证号", rows[5]["身份证号"], "unique"),
        150: ("户主姓名", "", "missing"),
        170: ("人员类别", "残疾人", "required_if_disabled"),
        190: ("家庭住址", "火星基地", "unresolvable"),
        210: ("联系电话", "12345", "phone_format"),
    }
    expected = {}
    for index, (header, value, rule) in breaks.items():
        rows[index][header] = value
        rows[index]["行政区划代码"] = "" if rule == "unresolvable" else rows[index]["行政区划代码"]
        if rule == "unresolvable":
            rows[index]["所属社工站"] = ""
        field = {"人员类别": "残疾等级", "家庭住址": "行政区划代码", HEAD_NAME: "姓名"}.get(
            header, header
        )
        if rule is not None:
            expected[index + 2] = (field, rule)
    rows[20]["出生日期"] = future  # no ID number: the birth date itself is checked
    expected[22] = ("出生日期", "not_in_future")
    return expected


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[HEAD_NAME, *HEADERS])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as s:
        households = int(s.scalar(select(func.count(Household.id))) or 0)
        return households, int(s.scalar(select(func.count(Person.id))) or 0)


def _ledger_size(engine: Engine) -> int:
    # Each row in its own transaction, through the very same code on both backends. The
    # planted rows lie in the first 250; the rest are a town's worth of good ones. A county's
    # 10,000 took 30 s of the suite on SQLite alone: how fast an import runs is a benchmark's
    # question, not this test's.
    return 2_000 if engine.dialect.name == "sqlite" else 500


def test_a_town_ledger_imports_with_a_per_row_report(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    size = _ledger_size(engine)
    rng = random.Random(4)
    rows = [_row(i, rng) for i in range(size)]
    expected = _plant_bad_rows(rows)
    ledger = read_ledger(_write_csv(tmp_path / "台账.csv", rows))
    ticks: list[int] = []
    report = import_ledger(
        sessions=sessions,
        ledger=ledger,
        actor=Actor("import", "admin"),
        on_row=lambda _outcome: ticks.append(1),
    )
    assert (report.rows, len(ticks)) == (size, size)
    assert {e.row: (e.field, e.rule) for e in report.errors} == expected
    assert report.failed_rows == len(expected)
    assert report.imported == size - len(expected)
    assert _counts(sessions) == (report.imported, report.imported), "a row was half-imported"
    messages = " ".join(e.message for e in report.errors)
    assert rows[10]["身份证号"] not in messages and "12345" not in messages
    with sessions() as s:
        active = s.scalar(select(func.count(Person.id)).where(Person.case_status == "active"))
        placed = s.scalars(select(Household.location_precision).distinct()).all()
    assert active == sum(
        1 for i, r in enumerate(rows) if r["知情同意日期"] and i + 2 not in expected
    )
    assert set(placed) == {"exact", "district_centroid"}


def test_xlsx_ledger_through_the_cli_shows_progress_and_writes_the_error_report(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    headers = [HEAD_NAME, *HEADERS, "备注"]
    sheet.append(headers)
    rng = random.Random(5)
    for i in range(30):
        row = _row(i, rng)
        if i == 7:
            row["服务等级"] = "六级"
        sheet.append([row.get(h, "") for h in headers])
    excel_row = {HEAD_NAME: "户主99", "出生日期": "1940/05/06", "家庭住址": "江安县江安镇"}
    sheet.append([excel_row.get(h) for h in headers])  # dates as Excel writes
    path = tmp_path / "台账.xlsx"
    workbook.save(path)
    errors_csv = tmp_path / "errors.csv"
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        app, ["needs", "import", str(path), "--database-url", url, "--errors", str(errors_csv)]
    )
    assert result.exit_code == 1, result.output
    assert "新建 30" in result.output and "拒绝 1" in result.output
    assert "(columns ignored): 备注" in result.output
    assert "31/31" in result.output  # the progress bar reached the end
    with errors_csv.open(encoding="utf-8-sig") as f:
        assert list(csv.reader(f)) == [
            ["row", "field", "rule", "message"],
            [
                "9",
                "服务等级",
                "unknown_tier",
                "not a service tier of the vocabulary (GET /tiers)",
            ],
        ]
    assert _counts(sessions) == (30, 30)


def test_ledger_without_required_columns_imports_nothing(
    engine: Engine, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("姓名,住址\n张三,江安县\n", encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["needs", "import", str(path), "--database-url", url])
    assert result.exit_code == 2
    assert "家庭住址" in result.output
    assert _counts(sessions) == (0, 0)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_csv_saved_by_excel_in_either_encoding_is_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "l.csv"
    path.write_text("户主姓名,家庭住址,服务等级\n张三,江安县江安镇,二级\n", encoding=encoding)
    ledger = read_ledger(path)
    assert ledger.rows == [
        (2, {"户主姓名": "张三", "家庭住址": "江安县江安镇", "服务等级": "二级"})
    ]
