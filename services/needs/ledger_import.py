"""Importing an existing household ledger (台账) from CSV or XLSX with Chinese headers.

One row is one household and its head (户主). The first row holds the headers; their order is
free, unknown columns are ignored (and reported), and only 户主姓名 and 家庭住址 are required:

| header       | meaning                                  | example                    |
|--------------|------------------------------------------|----------------------------|
| 户主姓名     | name of the head of household            | 张三                       |
| 身份证号     | 18-character resident ID (GB 11643)      | 51152319500101003X         |
| 性别         | 男 / 女 (read from the ID when empty)    | 男                         |
| 出生日期     | 1950-01-01 (read from the ID when empty) | 1950-01-01                 |
| 联系电话     | mobile or landline                       | 13800000000                |
| 家庭住址     | address as written                       | 江安县江安镇红星村3组12号  |
| 行政区划代码 | 6, 9 or 12 digits; resolved from the address when empty | 511523101   |
| 纬度 / 经度  | coordinates; both or neither             | 28.74 / 105.07             |
| 坐标系       | wgs84 (default), gcj02 (高德/腾讯), bd09 (百度) | gcj02                |
| 困难类型     | 低保, 低保边缘, 特困, 支出型困难, 临时救助 (several: 、) | 低保          |
| 服务等级     | tier 1–5 (1 = most intensive; 一级 … 五级 also read) | 2              |
| 人员类别     | groups: 独居老人、残疾人、留守儿童 … or codes | 独居老人、残疾人      |
| 残疾等级     | 1–4, required with 残疾人                  | 2                          |
| 所属社工站   | station adcode (township, 9 digits)      | 511523101                  |
| 负责社工     | the social worker in charge              | 李社工                     |
| 知情同意日期 | consent to the case file; with it the case is active | 2026-03-01     |
| 敏感信息单独同意 | 是: separate consent to health data (残疾人, 认知障碍, 重病) | 是 |
| 同意人       | 本人 (default) / 监护人 (required under 14 for health/disability data) | 监护人 |
| 最近探访日期 | date of the last home visit              | 2026-10-15                 |

Each row is written in its own transaction: a row either imports whole (household and person,
case activated when consent is given) or not at all, and a bad row does not stop the others.
Every broken rule is reported with the row number (as the spreadsheet shows it), the header and
the rule. Messages never repeat a cell's value: ledgers hold names, ID numbers and phones.
"""

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.needs import persons, service
from services.needs.enums import CaseStatus, ConsentGiver, ConsentScope
from services.needs.schemas import HouseholdCreate, PersonCreate
from shared.db import transaction
from shared.errors import FieldError, ValidationFailed

HEADERS: dict[str, str] = {
    "户主姓名": "name",
    "身份证号": "resident_id",
    "性别": "gender",
    "出生日期": "date_of_birth",
    "联系电话": "phone",
    "家庭住址": "address",
    "行政区划代码": "adcode",
    "纬度": "lat",
    "经度": "lon",
    "坐标系": "crs",
    "困难类型": "hardship_categories",
    "服务等级": "tier",
    "人员类别": "groups",
    "残疾等级": "disability_grade",
    "所属社工站": "station_adcode",
    "负责社工": "social_worker",
    "知情同意日期": "consent_on",
    "敏感信息单独同意": "sensitive_consent",
    "同意人": "consent_given_by",
    "最近探访日期": "last_visit_on",
}
REQUIRED_HEADERS = ("户主姓名", "家庭住址")
_HEADER_OF = {name: header for header, name in HEADERS.items()}
_HEADER_OF |= {"location": "纬度", "station_adcode": "所属社工站", "consent": "知情同意日期"}
_LIST_SEPARATORS = re.compile(r"[、,，;；/\s]+")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
_GENDERS = {"男": "male", "女": "female"}
_CRS = {"高德": "gcj02", "腾讯": "gcj02", "百度": "bd09", "gps": "wgs84"}
_CHINESE_TIERS = {"一": "1", "二": "2", "三": "3", "四": "4", "五": "5"}
_YES = {"是", "有", "已同意", "同意", "y", "yes", "true", "1"}
_GIVERS = {"本人": ConsentGiver.SELF, "监护人": ConsentGiver.GUARDIAN}


class LedgerFormatError(Exception):
    """The file cannot be read as a ledger at all (wrong type, required headers missing)."""


@dataclass(frozen=True)
class RowError:
    """One rule one row broke: the spreadsheet's row number, the header, the rule."""

    row: int
    field: str
    rule: str
    message: str


@dataclass
class ImportReport:
    """How an import went: rows read, households imported, and every row's errors."""

    rows: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def failed_rows(self) -> int:
        return len({e.row for e in self.errors})


@dataclass
class Ledger:
    """A ledger read into memory: its headers and its rows as {header: cell}."""

    headers: list[str]
    rows: list[tuple[int, dict[str, Any]]]


def read_ledger(path: Path) -> Ledger:
    """Read a CSV (UTF-8 or GB18030, as Excel saves it in China) or XLSX ledger."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = _read_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        table = _read_xlsx(path)
    else:
        raise LedgerFormatError(f"a ledger is a .csv or .xlsx file, not {suffix or 'this file'}")
    try:
        header_row = next(table)
    except StopIteration:
        raise LedgerFormatError("the file is empty") from None
    headers = [str(h).strip() if h is not None else "" for h in header_row]
    missing = [h for h in REQUIRED_HEADERS if h not in headers]
    if missing:
        raise LedgerFormatError(f"required columns are missing: {', '.join(missing)}")
    rows = []
    for number, cells in enumerate(table, start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        rows.append((number, dict(zip(headers, cells, strict=False))))
    return Ledger(headers, rows)


def _read_csv(path: Path) -> Iterator[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = path.read_text(encoding=encoding)
        except UnicodeDecodeError:
            continue
        return iter(list(csv.reader(io.StringIO(text, newline=""))))
    raise LedgerFormatError("the CSV is neither UTF-8 nor GB18030 text")


def _read_xlsx(path: Path) -> Iterator[list[Any]]:
    import openpyxl  # only imports of spreadsheets need it

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        return iter([list(row) for row in sheet.iter_rows(values_only=True)])
    finally:
        workbook.close()


def import_ledger(
    *,
    sessions: sessionmaker[Session],
    ledger: Ledger,
    actor: str | None,
    on_row: Callable[[], None] | None = None,
) -> ImportReport:
    """Import every row in its own transaction; report each bad row's field and rule."""
    report = ImportReport(
        rows=len(ledger.rows),
        ignored_columns=[h for h in ledger.headers if h and h not in HEADERS],
    )
    for number, cells in ledger.rows:
        errors = _import_row(sessions, cells, actor)
        report.errors.extend(RowError(number, e.field, e.rule, e.message) for e in errors)
        report.imported += not errors
        if on_row is not None:
            on_row()
    return report


def _import_row(
    sessions: sessionmaker[Session], cells: dict[str, Any], actor: str | None
) -> list[FieldError]:
    values, errors = _values(cells)
    household = person = None
    try:
        household = HouseholdCreate.model_validate(_household_fields(values))
    except ValidationError as exc:
        errors += _pydantic_errors(exc)
    try:
        person = PersonCreate.model_validate(_person_fields(values))
    except ValidationError as exc:
        errors += _pydantic_errors(exc)
    if errors or household is None or person is None:
        return errors
    try:
        with transaction(sessions) as session:
            _write_row(session, household, person, values, actor)
    except ValidationFailed as exc:
        return [_with_header(e) for e in exc.errors]
    except IntegrityError:
        return [FieldError("身份证号", "unique", "a person with this ID number is already on file")]
    return []


def _write_row(
    session: Session,
    household_data: HouseholdCreate,
    person_data: PersonCreate,
    values: dict[str, Any],
    actor: str | None,
) -> None:
    household = service.create_household(session=session, data=household_data)
    person = persons.create_person(
        session=session, household_id=household.id, data=person_data, actor=actor
    )
    if person.consent_on is not None:
        persons.transition_case(
            session=session, person=person, status=CaseStatus.ACTIVE, exit_reason=None, actor=actor
        )
    person.last_visit_on = values.get("last_visit_on")


def _values(cells: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Cells by field name, as the schemas take them; dates parsed, labels mapped."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for header, name in HEADERS.items():
        raw = cells.get(header)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue
        if name in ("date_of_birth", "consent_on", "last_visit_on"):
            parsed = _date(raw)
            if parsed is None:
                errors.append(FieldError(header, "date_format", "write dates as 2026-03-01"))
            elif name == "last_visit_on" and parsed > date.today():
                errors.append(FieldError(header, "not_in_future", "the date lies in the future"))
            values[name] = parsed
        elif name in ("hardship_categories", "groups"):
            values[name] = [p for p in _LIST_SEPARATORS.split(_text(raw)) if p]
        else:
            values[name] = _text(raw)
    if "gender" in values:
        values["gender"] = _GENDERS.get(values["gender"], values["gender"])
    if "crs" in values:
        values["crs"] = _CRS.get(values["crs"], values["crs"].lower())
    if "tier" in values:
        tier = values["tier"].removesuffix("级")
        values["tier"] = _CHINESE_TIERS.get(tier, tier)
    return values, errors


def _household_fields(values: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        k: values[k]
        for k in ("address", "adcode", "hardship_categories", "station_adcode", "social_worker")
        if k in values
    }
    if "lat" in values or "lon" in values:
        fields["location"] = {
            "lat": values.get("lat"),
            "lon": values.get("lon"),
            "crs": values.get("crs", "wgs84"),
        }
    return fields


def _person_fields(values: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        k: values[k]
        for k in (
            "name",
            "resident_id",
            "gender",
            "date_of_birth",
            "phone",
            "groups",
            "disability_grade",
            "tier",
        )
        if k in values
    }
    fields["is_head"] = True
    if values.get("consent_on") is not None:
        # Health and disability data need a separate consent (PIPL art. 29), a child's from a
        # guardian (art. 31): the ledger says so in its own columns.
        scope = [ConsentScope.CASE_FILE]
        if str(values.get("sensitive_consent", "")).lower() in _YES:
            scope.append(ConsentScope.SENSITIVE)
        giver = values.get("consent_given_by", "本人")
        fields["consent"] = {
            "given_on": values["consent_on"],
            "scope": scope,
            "given_by": _GIVERS.get(giver, giver),
        }
    return fields


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in err["loc"]]
        name = loc[1] if loc[:1] == ["location"] and len(loc) > 1 else (loc[0] if loc else "")
        header = _HEADER_OF.get(name, "户主姓名" if name == "" else name)
        errors.append(FieldError(header, err["type"], err["msg"]))
    return errors


def _with_header(error: FieldError) -> FieldError:
    return FieldError(_HEADER_OF.get(error.field, error.field), error.rule, error.message)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
