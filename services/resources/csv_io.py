"""The resource library as a CSV with Chinese headers (资源导入模板); see
docs/resources-csv-template.md for the template a coordinator fills in.

Reading turns each line into the body `POST /resources` takes, without judging it: the
rules are checked once, by `ResourceCreate`, so a CSV row breaks the same named rules as an
API call. Values may be given as codes or in Chinese (类型 慈善组织, 容量周期 每月, 服务类别
助餐送餐 …). Lists are separated by `;` or `；`.
"""

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from services.resources.models import Resource
from shared import taxonomy

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

KINDS = {"爱心企业": "enterprise", "慈善组织": "charity", "志愿者": "volunteer"}
KINDS |= {"志愿服务队": "volunteer", "政府部门": "department", "企业": "enterprise"}
PERIODS = {"一次": "once", "每周": "week", "每月": "month", "每年": "year"}
MODES = {"停止": "capacity", "满额停止": "capacity", "候补": "waitlist", "排队候补": "waitlist"}
UNITS = {"人": "persons", "人次": "persons", "小时": "hours", "元": "yuan", "件": "items"}
DAYS = {"周一": "mon", "周二": "tue", "周三": "wed", "周四": "thu", "周五": "fri"}
DAYS |= {"周六": "sat", "周日": "sun", "周天": "sun"}
YES = {"是", "true", "1", "yes", "y", "已核实", "启用"}
NO = {"否", "false", "0", "no", "n", "未核实", "停用"}
CATEGORY_BY_LABEL = {c.zh: c.code for c in taxonomy.CATEGORIES.values()}
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


def _hours(value: str) -> list[dict[str, str]] | str:
    slots: list[dict[str, str]] = []
    for part in LIST_SEPARATOR.split(value):
        match = re.fullmatch(r"\s*(\S+)\s+(\d{1,2}:\d{2})\s*[-–~至]\s*(\d{1,2}:\d{2})\s*", part)
        if not part.strip():
            continue
        if match is None:
            return value  # a list of slots is expected: the model names the broken rule
        day, opens, closes = match.groups()
        slots.append(
            {"day": DAYS.get(day, day), "opens": opens.zfill(5), "closes": closes.zfill(5)}
        )
    return slots


def _number(value: str) -> str | None:
    return value.strip() or None


def row_to_body(cells: dict[str, str]) -> dict[str, Any]:
    """One CSV row (by field key) as the body of `POST /resources`."""

    def get(key: str) -> str:
        return (cells.get(key) or "").strip()

    body: dict[str, Any] = {
        "name": get("name"),
        "kind": KINDS.get(get("kind"), get("kind")),
        "organization": get("organization") or None,
        "categories": [CATEGORY_BY_LABEL.get(c, c) for c in _split(get("categories"))],
        "description": get("description"),
        "location": {"lat": _number(get("lat")), "lon": _number(get("lon"))},
        "radius_km": _number(get("radius_km")),
        "adcodes": _split(get("adcodes")),
        "eligible_groups": _split(get("eligible_groups")),
        "capacity": {
            "total": _number(get("capacity_total")),
            "unit": UNITS.get(get("capacity_unit"), get("capacity_unit") or "persons"),
            "period": PERIODS.get(get("capacity_period"), get("capacity_period") or "month"),
            "mode": MODES.get(get("capacity_mode"), get("capacity_mode") or "capacity"),
        },
        "hours": _hours(get("hours")),
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
    """The rows of a CSV file (UTF-8, with or without BOM) as import rows."""
    text = content.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    rows: list[dict[str, Any]] = []
    for line, raw in enumerate(reader, start=2):  # line 1 is the header
        cells = {
            FIELD_OF.get((k or "").strip(), (k or "").strip()): v or "" for k, v in raw.items()
        }
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

    hours = "; ".join(f"{h['day']} {h['opens']}-{h['closes']}" for h in resource.hours)
    return [
        resource.id,
        resource.name,
        resource.kind,
        resource.organization or "",
        "; ".join(resource.categories),
        resource.description,
        repr(resource.lat),
        repr(resource.lon),
        "wgs84",
        "" if resource.radius_km is None else repr(resource.radius_km),
        "; ".join(resource.adcodes),
        "; ".join(resource.eligible_groups),
        str(resource.capacity_total),
        str(resource.capacity_remaining),
        resource.capacity_unit,
        resource.capacity_period,
        resource.capacity_mode,
        hours,
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
