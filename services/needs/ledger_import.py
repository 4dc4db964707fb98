"""Importing a station's ledger (台账) from CSV (UTF-8 or GBK/GB18030) or XLSX, Chinese headers.

One row is one person. Rows of one household share its key: 户编号 (the ledger's household
number), or else 户主身份证号 (the head's ID number); a row with neither is a household of its
own (the older one-row-per-household ledgers, with 户主姓名, still read). The header row may
sit below a title row or two. Column by column, see docs/ledger-import.md and its template
docs/ledger-template.csv.

A re-import updates what changed and never files a second copy: a person is found by their ID
number, else by name within their household; a household by its head's ID number, else by the
head's name and the address (blind indexes: nothing is decrypted to compare). Each row is
reported as created, updated, unchanged or refused (with the header and rule of every broken
rule); each row is written in its own transaction, whole or not at all. Messages never repeat
a cell's value: ledgers hold names, ID numbers and phones.
"""

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.needs import service
from services.needs.cases import service as persons
from services.needs.cases.states import CaseStatus
from services.needs.enums import ConsentGiver, ConsentScope
from services.needs.models import Household, Person, RecordChange
from services.needs.schemas import HouseholdCreate, HouseholdPatch, PersonCreate, PersonPatch
from shared.actor import Actor, stamp
from shared.clock import china_today
from shared.crypto import index_of, name_index
from shared.db import transaction
from shared.errors import FieldError, Forbidden, ValidationFailed

HEADERS: dict[str, str] = {
    "户编号": "household_key",
    "姓名": "name",
    "与户主关系": "relation",
    "户主身份证号": "head_resident_id",
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
# Older ledgers: one row per household, its head named in 户主姓名.
HEAD_NAME = "户主姓名"
NAME_HEADERS = ("姓名", HEAD_NAME)
TITLE_ROWS_MAX = 5  # rows above the header a ledger may have (a title, a date, a unit)
_HEADS = {"户主", "本人", "户主本人"}
_HEADER_OF = {name: header for header, name in HEADERS.items()}
_HEADER_OF |= {"location": "纬度", "station_adcode": "所属社工站", "consent": "知情同意日期"}
_HEADER_OF |= {"household_id": "户编号", "social_worker": "负责社工"}
_LIST_SEPARATORS = re.compile(r"[、,，;；/\s]+")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
_GENDERS = {"男": "male", "女": "female"}
_CRS = {"高德": "gcj02", "腾讯": "gcj02", "百度": "bd09", "gps": "wgs84"}
_CHINESE_TIERS = {"一": "1", "二": "2", "三": "3", "四": "4", "五": "5"}
_YES = {"是", "有", "已同意", "同意", "y", "yes", "true", "1"}
_GIVERS = {"本人": ConsentGiver.SELF, "监护人": ConsentGiver.GUARDIAN}
XLSX_MAGIC = b"PK\x03\x04"


class LedgerFormatError(Exception):
    """The file cannot be read as a ledger at all (wrong type, required headers missing)."""


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True)
class RowError:
    """One rule one row broke: the spreadsheet's row number, the header, the rule."""

    row: int
    field: str
    rule: str
    message: str


@dataclass(frozen=True)
class RowOutcome:
    """What became of one row: ids and codes only."""

    row: int
    outcome: Outcome
    household_id: str | None = None
    person_id: str | None = None
    fields: tuple[str, ...] = ()  # what an update changed (headers' field names)


@dataclass
class ImportReport:
    """How an import went: rows read, each row's outcome, and every row's errors."""

    rows: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome is outcome)

    @property
    def imported(self) -> int:
        """Rows whose person is on file now (created, updated or already as the row says)."""
        return len(self.outcomes) - self.count(Outcome.REFUSED)

    @property
    def failed_rows(self) -> int:
        return len({e.row for e in self.errors})


@dataclass
class Ledger:
    """A ledger read into memory: its headers and its rows as {header: cell}."""

    headers: list[str]
    rows: list[tuple[int, dict[str, Any]]]


def read_ledger(path: Path) -> Ledger:
    """Read a CSV (UTF-8 or GB18030/GBK, as Excel saves it in China) or XLSX ledger file."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".xlsm"):
        raise LedgerFormatError(f"a ledger is a .csv or .xlsx file, not {suffix or 'this file'}")
    return read_ledger_bytes(path.read_bytes())


def read_ledger_bytes(data: bytes) -> Ledger:
    """Read a ledger sent as bytes: XLSX when it is a zip, else CSV text."""
    table = _read_xlsx(data) if data.startswith(XLSX_MAGIC) else _read_csv(data)
    if not table:
        raise LedgerFormatError("the file is empty")
    at = _header_row(table)
    headers = [str(h).strip() if h is not None else "" for h in table[at]]
    rows = []
    for number, cells in enumerate(table[at + 1 :], start=at + 2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        rows.append((number, dict(zip(headers, cells, strict=False))))
    return Ledger(headers, rows)


def _header_row(table: list[list[Any]]) -> int:
    """Where the headers are: the first row naming a person and the address."""
    for at, cells in enumerate(table[: TITLE_ROWS_MAX + 1]):
        names = {str(c).strip() for c in cells if c is not None}
        if "家庭住址" in names and names & set(NAME_HEADERS):
            return at
    raise LedgerFormatError(
        "required columns are missing: 姓名 (or 户主姓名) and 家庭住址, in one of the first "
        f"{TITLE_ROWS_MAX + 1} rows"
    )


def _read_csv(data: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return list(csv.reader(io.StringIO(text, newline="")))
    raise LedgerFormatError("the CSV is neither UTF-8 nor GBK/GB18030 text")


def _read_xlsx(data: bytes) -> list[list[Any]]:
    import openpyxl  # only imports of spreadsheets need it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is not a workbook: openpyxl raises many kinds
        raise LedgerFormatError("the file is not an XLSX workbook") from exc
    try:
        sheet = workbook.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    errors: list[FieldError]
    key: str

    @property
    def is_head(self) -> bool:
        return bool(self.values.get("is_head"))


def import_ledger(
    *,
    sessions: sessionmaker[Session],
    ledger: Ledger,
    actor: Actor,
    area: str | None = None,
    on_row: Callable[[RowOutcome], None] | None = None,
) -> ImportReport:
    """Import every row in its own transaction, a household's head first; report each row's
    outcome, and each refused row's header and rule. `area` is the importer's jurisdiction:
    every household must lie in it."""
    report = ImportReport(
        rows=len(ledger.rows),
        ignored_columns=[h for h in ledger.headers if h and h not in HEADERS and h != HEAD_NAME],
    )
    homes: dict[str, str] = {}  # household key in this file → household id
    seen: set[str] = set()  # ID numbers of earlier rows: one person is one row
    for row in _in_household_order(ledger):
        number = str(row.values.get("resident_id", "")).upper()
        if number and number in seen:
            outcome = RowOutcome(row.number, Outcome.REFUSED)
            errors = [FieldError("身份证号", "unique", "the ID number is on another row too")]
        else:
            outcome, errors = _import_row(sessions, row, homes, actor, area)
        if number:
            seen.add(number)
        report.outcomes.append(outcome)
        report.errors.extend(RowError(row.number, e.field, e.rule, e.message) for e in errors)
        if on_row is not None:
            on_row(outcome)
    report.outcomes.sort(key=lambda o: o.row)
    report.errors.sort(key=lambda e: e.row)
    return report


def _in_household_order(ledger: Ledger) -> list[_Row]:
    """Rows grouped by household as they first appear, each household's head first."""
    groups: dict[str, list[_Row]] = {}
    for number, cells in ledger.rows:
        values, errors = _values(cells)
        key = values.get("household_key") or values.get("head_resident_id")
        if not key and values.get("is_head") and values.get("resident_id"):
            key = values["resident_id"]
        groups.setdefault(str(key or f"row-{number}"), []).append(
            _Row(number, values, errors, str(key or f"row-{number}"))
        )
    return [r for rows in groups.values() for r in sorted(rows, key=lambda r: not r.is_head)]


def _import_row(
    sessions: sessionmaker[Session],
    row: _Row,
    homes: dict[str, str],
    actor: Actor,
    area: str | None,
) -> tuple[RowOutcome, list[FieldError]]:
    refused = RowOutcome(row.number, Outcome.REFUSED)
    errors = list(row.errors)
    household = person = None
    try:
        household = HouseholdCreate.model_validate(_household_fields(row.values))
    except ValidationError as exc:
        if row.key not in homes:  # a member's row needs no address of its own
            errors += _pydantic_errors(exc)
    try:
        person = PersonCreate.model_validate(_person_fields(row.values))
    except ValidationError as exc:
        errors += _pydantic_errors(exc)
    if errors or person is None:
        return refused, errors
    try:
        with transaction(sessions) as session:
            outcome = _write_row(session, row, household, person, homes, actor, area)
    except (ValidationFailed, Forbidden) as exc:
        return refused, _errors_of(exc)
    except IntegrityError:
        return refused, [
            FieldError("身份证号", "unique", "a person with this ID number is on file")
        ]
    homes.setdefault(row.key, outcome.household_id or "")
    return outcome, []


def _errors_of(exc: ValidationFailed | Forbidden) -> list[FieldError]:
    if isinstance(exc, ValidationFailed):
        return [_with_header(e) for e in exc.errors]
    extra = exc.extra or {}
    name = str(extra.get("field", "行政区划代码"))
    return [FieldError(_HEADER_OF.get(name, name), str(extra.get("rule", "scope")), exc.detail)]


def _write_row(
    session: Session,
    row: _Row,
    household_data: HouseholdCreate | None,
    person_data: PersonCreate,
    homes: dict[str, str],
    actor: Actor,
    area: str | None,
) -> RowOutcome:
    if household_data is not None and household_data.social_worker is not None:
        worker = stamp("social_worker", household_data.social_worker, actor)
        household_data = household_data.model_copy(update={"social_worker": worker})
    found = _known_by_number(session, person_data)
    home_id = homes.get(row.key) or (found.household_id if found else None)
    home_id = home_id or _known_household(session, row, person_data, household_data)
    if found is None and home_id is not None:
        found = _known_by_name(session, person_data, home_id)
    changed: list[str] = []
    if home_id is None:
        if household_data is None:
            raise ValidationFailed.one("家庭住址", "missing", "the household's address is needed")
        home_id = service.create_household(session=session, data=household_data, area=area).id
    elif household_data is not None and row.is_head:
        changed += _update_household(session, home_id, household_data, actor, area)
    else:
        service.check_in_area(
            service.get_household_or_raise(session=session, household_id=home_id), area
        )
    if found is None:
        person = persons.create_person(
            session=session, household_id=home_id, data=person_data, actor=actor.id
        )
        _follow_up(session, person, row.values, actor)
        return RowOutcome(row.number, Outcome.CREATED, home_id, person.id)
    changed += _update_person(session, found, home_id, person_data, row.values, actor)
    outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
    return RowOutcome(row.number, outcome, home_id, found.id, tuple(sorted(set(changed))))


def _known_by_number(session: Session, data: PersonCreate) -> Person | None:
    """The person already on file with this ID number."""
    if data.resident_id is None:
        return None
    number = index_of(data.resident_id)
    return session.scalar(select(Person).where(Person.resident_id_hash == number))


def _known_by_name(session: Session, data: PersonCreate, home_id: str) -> Person | None:
    """A person without an ID number on file: the one of this name in their household."""
    return session.scalar(
        select(Person)
        .where(Person.household_id == home_id, Person.name_hash == name_index(data.name))
        .where(Person.resident_id_hash.is_(None) if data.resident_id else Person.id.is_not(None))
        .order_by(Person.created_at)
        .limit(1)
    )


def _known_household(
    session: Session, row: _Row, person: PersonCreate, household: HouseholdCreate | None
) -> str | None:
    """The household already on file: by its head's ID number, else by the head's name and
    its address (a household whose head has no ID number, issue 14 item 9)."""
    head_number = row.values.get("head_resident_id")
    if head_number is not None:
        found = session.scalar(
            select(Person.household_id).where(
                Person.resident_id_hash == index_of(str(head_number).strip().upper())
            )
        )
        if found is not None:
            return found
    if not row.is_head or household is None:
        return None
    return session.scalar(
        select(Household.id)
        .join(Person, Person.household_id == Household.id)
        .where(
            Person.is_head.is_(True),
            Person.name_hash == name_index(person.name),
            Household.address_hash == name_index(household.address),
        )
        .order_by(Household.created_at)
        .limit(1)
    )


def _update_household(
    session: Session, home_id: str, data: HouseholdCreate, actor: Actor, area: str | None
) -> list[str]:
    before = service.get_household_or_raise(session=session, household_id=home_id).version
    patch = HouseholdPatch.model_validate(data.model_dump(exclude_unset=True, exclude_none=True))
    household = service.update_household(
        session=session,
        household_id=home_id,
        data=patch,
        actor=actor,
        area=area,
        expected_version=None,
        source="ledger",
    )
    if household.version == before:
        return []
    return list(session.scalars(_last_change_fields(home_id)).first() or [])


def _last_change_fields(record_id: str) -> Any:
    return (
        select(RecordChange.fields)
        .where(RecordChange.record_id == record_id)
        .order_by(RecordChange.id.desc())
        .limit(1)
    )


def _update_person(
    session: Session,
    person: Person,
    home_id: str,
    data: PersonCreate,
    values: dict[str, Any],
    actor: Actor,
) -> list[str]:
    given = data.model_dump(
        include={"name", "resident_id", "phone", "is_head", "groups", "disability_grade"},
        exclude_unset=True,
    )
    given["household_id"] = home_id
    before = person.version
    persons.update_person(
        session=session,
        person_id=person.id,
        data=PersonPatch.model_validate(given),
        actor=actor,
        expected_version=None,
        source="ledger",
    )
    changed = list(session.scalars(_last_change_fields(person.id)).first() or [])
    changed = changed if person.version != before else []
    if data.tier is not None and data.tier != person.tier:
        persons.change_tier(session=session, person=person, tier=data.tier, actor=actor.id)
        changed.append("tier")
    if data.consent is not None and person.consent_on is None:
        persons.record_consent(session=session, person=person, consent=data.consent, actor=actor.id)
        changed.append("consent")
    changed += _follow_up(session, person, values, actor)
    return changed


def _follow_up(session: Session, person: Person, values: dict[str, Any], actor: Actor) -> list[str]:
    """An active case when consent is on file; the last visit when the ledger knows a later one."""
    changed = []
    if person.consent_on is not None and person.case_status == CaseStatus.APPLIED:
        persons.transition_case(
            session=session,
            person=person,
            status=CaseStatus.ACTIVE,
            exit_reason=None,
            actor=actor.id,
        )
        changed.append("case_status")
    visited = values.get("last_visit_on")
    if visited is not None and (person.last_visit_on is None or visited > person.last_visit_on):
        person.last_visit_on = visited
        changed.append("last_visit_on")
    return changed


def _values(cells: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Cells by field name, as the schemas take them; dates parsed, labels mapped."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    if cells.get("姓名") in (None, "") and cells.get(HEAD_NAME) not in (None, ""):
        cells = cells | {"姓名": cells[HEAD_NAME], "与户主关系": "户主"}
    for header, name in HEADERS.items():
        raw = cells.get(header)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue
        if name in ("date_of_birth", "consent_on", "last_visit_on"):
            parsed = _date(raw)
            if parsed is None:
                errors.append(FieldError(header, "date_format", "write dates as 2026-03-01"))
            elif name == "last_visit_on" and parsed > china_today():
                errors.append(FieldError(header, "not_in_future", "the date lies in the future"))
            values[name] = parsed
        elif name in ("hardship_categories", "groups"):
            values[name] = [p for p in _LIST_SEPARATORS.split(_text(raw)) if p]
        else:
            values[name] = _text(raw)
    own_household = not (values.get("household_key") or values.get("head_resident_id"))
    relation = values.pop("relation", None)
    values["is_head"] = relation in _HEADS or (relation is None and own_household)
    if "head_resident_id" in values:
        values["head_resident_id"] = values["head_resident_id"].upper()
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
    fields["is_head"] = values["is_head"]
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
        header = _HEADER_OF.get(name, "姓名" if name == "" else name)
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
