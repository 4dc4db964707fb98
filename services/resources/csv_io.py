"""The resource library as a CSV with Chinese headers (资源导入模板); see
docs/resources-csv-template.md for the template a coordinator fills in.

Reading turns each line into the body `POST /resources` takes, without judging it: the
rules are checked once, by `ResourceCreate`, so a CSV or XLSX row breaks the same named rules
as an API call, and takes the same codes or Chinese labels (类型 社会组织, 容量单位 人, 容量周期
月, 服务类别 助餐送餐 …: shared/contracts/vocabulary.py). Lists are separated by `;` `；` `,`
`，` or `、`; opening hours as stations write them (opening_hours.py). Writing uses the Chinese
labels, which read back as the same codes.
"""

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from services.resources import opening_hours
from services.resources.models import Resource
from shared.contracts import vocabulary
from shared.contracts.vocabulary import Vocabulary

COLUMNS: list[tuple[str, str]] = [
    ("编号", "id"),
    ("名称", "name"),
    ("类型", "kind"),
    ("所属组织", "organization"),
    ("服务类别", "categories"),
    ("简介", "description"),
    ("纬度", "lat"),
    ("经度", "lon"),
    ("坐标系", "crs"),
    ("服务半径(公里)", "radius_km"),
    ("服务区域代码", "adcodes"),
    ("服务对象", "eligible_groups"),
    ("容量", "capacity_total"),
    ("剩余容量", "capacity_remaining"),
    ("容量单位", "capacity_unit"),
    ("容量周期", "capacity_period"),
    ("满额处理", "capacity_mode"),
    ("服务时间", "hours"),
    ("开始日期", "available_from"),
    ("结束日期", "available_until"),
    ("联系人", "contact_name"),
    ("联系电话", "contact_phone"),
    ("已核实", "verified"),
    ("启用", "active"),
]
HEADERS = [zh for zh, _ in COLUMNS]
FIELD_OF = {zh: key for zh, key in COLUMNS}

YES = {"是", "true", "1", "yes", "y", "已核实", "启用"}
NO = {"否", "false", "0", "no", "n", "未核实", "停用"}
LIST_SEPARATOR = re.compile(r"[;；,，、]")


def _split(value: str) -> list[str]:
    return [part.strip() for part in LIST_SEPARATOR.split(value) if part.strip()]


def _flag(value: str, default: bool) -> bool | str:
    text = value.strip().lower()
    if not text:
        return default
    if text in YES:
        return True
    if text in NO:
        return False
    return value  # left for the model to reject with its own rule


def _number(value: str) -> str | None:
    return value.strip() or None


def row_to_body(cells: dict[str, str]) -> dict[str, Any]:
    """One CSV row (by field key) as the body of `POST /resources`."""

    def get(key: str) -> str:
        return (cells.get(key) or "").strip()

    body: dict[str, Any] = {
        "name": get("name"),
        "kind": get("kind"),
        "organization": get("organization") or None,
        "categories": _split(get("categories")),
        "description": get("description"),
        "location": {"lat": _number(get("lat")), "lon": _number(get("lon"))},
        "radius_km": _number(get("radius_km")),
        "adcodes": _split(get("adcodes")),
        "eligible_groups": _split(get("eligible_groups")),
        "capacity": {
            "total": _number(get("capacity_total")),
            "unit": get("capacity_unit") or "persons",
            "period": get("capacity_period") or "month",
            "mode": get("capacity_mode") or "capacity",
        },
        "hours": opening_hours.parse(get("hours")),
        "available_from": get("available_from") or None,
        "available_until": get("available_until") or None,
        "contact_name": get("contact_name") or None,
        "contact_phone": get("contact_phone") or None,
        "verified": _flag(get("verified"), False),
    }
    if get("crs"):
        body["location"]["crs"] = get("crs").lower()
    return body


def read(content: bytes) -> list[dict[str, Any]]:
    """The rows of a CSV file (UTF-8 with or without BOM, or GBK/GB18030 as Excel saves it in
    China) as import rows; a title line above the header is skipped."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        return rows_of(list(csv.reader(io.StringIO(text, newline=""))))
    raise ValueError("the CSV is neither UTF-8 nor GB18030 text")


def read_xlsx(content: bytes) -> list[dict[str, Any]]:
    """The rows of the first sheet of an XLSX workbook, as `read` reads a CSV."""
    import openpyxl  # only spreadsheet imports need it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            table = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
    except Exception as exc:  # a zip that is no workbook: openpyxl raises many kinds
        raise ValueError("the file is not a readable XLSX workbook") from exc
    return rows_of(table)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()[:5] if isinstance(value, time) else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rows_of(table: list[list[str]]) -> list[dict[str, Any]]:
    """Import rows from a table whose header is its first line naming `名称` (lines above it,
    a title such as `XX镇资源清单`, are skipped); line numbers are the file's."""
    start = next((i for i, cells in enumerate(table) if "名称" in [c.strip() for c in cells]), 0)
    header = [FIELD_OF.get(h.strip(), h.strip()) for h in (table[start] if table else [])]
    rows: list[dict[str, Any]] = []
    for line, raw in enumerate(table[start + 1 :], start=start + 2):
        cells = dict(zip(header, (c or "" for c in raw), strict=False))
        if not any(value.strip() for value in cells.values()):
            continue
        active = _flag(cells.get("active", ""), True)
        remaining = (cells.get("capacity_remaining") or "").strip()
        rows.append(
            {
                "ref": f"line {line}",
                "resource_id": (cells.get("id") or "").strip() or None,
                "active": active if isinstance(active, bool) else True,
                "capacity_available": int(remaining) if remaining.isdigit() else None,
                "data": row_to_body(cells),
            }
        )
    return rows


def _cells(resource: Resource) -> list[str]:
    def yes(flag: bool) -> str:
        return "是" if flag else "否"

    def labels(vocab: Vocabulary, codes: Iterable[str]) -> str:
        return "; ".join(vocab.label(code) for code in codes)

    return [
        resource.id,
        resource.name,
        vocabulary.RESOURCE_KINDS.label(resource.kind),
        resource.organization or "",
        labels(vocabulary.CATEGORIES, resource.categories),
        resource.description,
        repr(resource.lat),
        repr(resource.lon),
        "wgs84",
        "" if resource.radius_km is None else repr(resource.radius_km),
        "; ".join(resource.adcodes),
        labels(vocabulary.GROUPS, resource.eligible_groups),
        str(resource.capacity_total),
        str(resource.capacity_remaining),
        vocabulary.CAPACITY_UNITS.label(resource.capacity_unit),
        vocabulary.CAPACITY_PERIODS.label(resource.capacity_period),
        vocabulary.CAPACITY_MODES.label(resource.capacity_mode),
        opening_hours.write(resource.hours),
        resource.available_from.isoformat() if resource.available_from else "",
        resource.available_until.isoformat() if resource.available_until else "",
        resource.contact_name or "",
        resource.contact_phone or "",
        yes(resource.verified),
        yes(resource.active),
    ]


def write(resources: Iterable[Resource]) -> bytes:
    """The resources as a CSV in the template's columns (UTF-8 with BOM, so Excel reads it)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for resource in resources:
        writer.writerow(_cells(resource))
    return out.getvalue().encode("utf-8-sig")


def write_xlsx(resources: Iterable[Resource]) -> bytes:
    """The resources as an XLSX workbook in the template's columns, Chinese values."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook has its sheet
    sheet.title = "资源清单"
    sheet.append(HEADERS)
    for resource in resources:
        sheet.append(_cells(resource))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
