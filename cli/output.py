"""How the CLI shows answers: tables with Chinese labels for people, JSON for scripts (`--json`).

Cells are printed as text, never as rich markup: a rule code such as `[unique]` or a name with
brackets stays as written.
"""

import json
from collections.abc import Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

JSON = typer.Option(False, "--json", help="Print the answer as JSON (for scripts)")

# Labels of the fields answers carry: Chinese first, the key beside for scripts.
LABELS: dict[str, str] = {
    "id": "编号",
    "household_id": "户编号",
    "person_id": "人员编号",
    "name": "姓名",
    "resident_id": "身份证号",
    "phone": "电话",
    "address": "住址",
    "adcode": "区划代码",
    "station_adcode": "社工站",
    "station": "社工站",
    "hardship_categories": "困难类型",
    "social_worker": "负责社工",
    "groups": "人员类别",
    "is_head": "户主",
    "tier": "服务等级",
    "case_status": "个案状态",
    "next_visit_due": "下次探访",
    "last_visit_on": "最近探访",
    "due_on": "应探访日",
    "overdue": "已逾期",
    "category": "需求类别",
    "urgency": "紧急程度",
    "status": "状态",
    "state": "状态",
    "quantity": "数量",
    "version": "版本",
    "created_at": "建档时间",
    "updated_at": "更新时间",
    "fields": "字段",
    "actor": "操作人",
    "role": "角色",
    "changed_at": "时间",
    "row": "行",
    "outcome": "结果",
    "errors": "问题",
}


def label(key: str) -> str:
    return f"{LABELS[key]} {key}" if key in LABELS else key


def cell(value: Any) -> Text:
    """A value as a table shows it: lists joined with 、, booleans as 是/否."""
    if value is None:
        return Text("")
    if isinstance(value, bool):
        return Text("是" if value else "否")
    if isinstance(value, list):
        return Text("、".join(str(cell(v)) for v in value))
    if isinstance(value, dict):
        return Text(json.dumps(value, ensure_ascii=False))
    return Text(str(value))


def show(value: Any, *, as_json: bool, columns: Sequence[str] = (), title: str = "") -> None:
    """Print `value`: JSON for scripts, else a table (a list, or a listing's `items`) or
    one record as label/value lines."""
    if as_json:
        typer.echo(json.dumps(value, ensure_ascii=False, indent=2))
        return
    console = Console()
    if isinstance(value, dict) and "items" in value and "total" in value:
        rows = value["items"]
        title = f"{title} 共 {value['total']} 条 (total), 第 {value.get('offset', 0) + 1} 条起"
    elif isinstance(value, list):
        rows = value
    else:
        table = Table(show_header=False, title=title or None)
        for key, item in (value or {}).items():
            table.add_row(Text(label(key)), cell(item))
        console.print(table)
        return
    keys = list(columns) or (list(rows[0]) if rows else [])
    table = Table(title=title or None)
    for key in keys:
        table.add_column(Text(label(key)))
    for row in rows:
        table.add_row(*(cell(row.get(k)) for k in keys))
    console.print(table)


def problem(status: int, data: dict[str, Any]) -> None:
    """A problem answer on stderr: title, detail, and every field's rule (escaped as text)."""
    console = Console(stderr=True)
    console.print(Text(f"{status} {data.get('title', '')}: {data.get('detail', '')}"))
    for error in data.get("errors", []):
        console.print(
            Text(f"  {error.get('field')} [{error.get('rule')}] {error.get('message', '')}")
        )
    if data.get("rule") and not data.get("errors"):
        console.print(Text(f"  [{data['rule']}] {data.get('field', '')}".rstrip()))
