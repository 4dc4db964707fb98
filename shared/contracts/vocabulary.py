"""Every coded vocabulary the services share, with zh-CN and English labels, and `Coded`: the
one pydantic type that accepts a code or its Chinese label and stores the code.

A vocabulary is the single list of what a field may hold: groups of persons (`eligible_groups`,
a person's `groups`, a rank request's `groups`), hardship types, resource kinds, tiers,
capacity units, periods and modes, and the categories of `shared/taxonomy`. API bodies, query
filters, CSV/XLSX imports and the CLI all read values through `Vocabulary.code_of`, so `"助餐送餐"`
is `elderly_care.meals` wherever a category is taken, and an unknown value breaks the
vocabulary's rule (`unknown_group`, `unknown_category`, …) naming the field or list item.
`GET /categories`, `/groups`, … (shared/vocabulary_api.py) list them.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from shared import taxonomy
from shared.contracts.resources import ResourceKind


@dataclass(frozen=True)
class Term:
    """One entry of a vocabulary: its code, labels, and other ways ledgers write it."""

    code: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    parent: str | None = None


class Vocabulary:
    """A closed list of codes; values are read as a code, the Chinese or English label, or an
    alias (surrounding blanks ignored, codes and English labels case-insensitive)."""

    def __init__(self, name: str, rule: str, terms: Iterable[Term], *, what: str) -> None:
        self.name = name
        self.rule = rule
        self.what = what
        self.terms: dict[str, Term] = {t.code: t for t in terms}
        self._lookup: dict[str, str] = {}
        for term in self.terms.values():
            for spelling in (term.en.lower(), *term.aliases, term.zh):
                self._lookup.setdefault(spelling, term.code)
        for term in self.terms.values():  # a code always names itself
            self._lookup[term.code.lower()] = term.code

    def code_of(self, value: object) -> str | None:
        """The code `value` names, or None when it names nothing of this vocabulary."""
        if isinstance(value, StrEnum):
            value = value.value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        text = str(value).strip()
        return self._lookup.get(text) or self._lookup.get(text.lower())

    def validate(self, value: object) -> str:
        """The code of `value`; PydanticCustomError with the vocabulary's rule otherwise."""
        code = self.code_of(value)
        if code is None:
            raise PydanticCustomError(
                self.rule,
                "not a {what} of the vocabulary (GET /{name})",
                {"what": self.what, "name": self.name},
            )
        return code

    def label(self, code: str, lang: str = "zh") -> str:
        """The label of `code` in `lang` (zh or en); an unknown code is shown as it is."""
        term = self.terms.get(code)
        if term is None:
            return code
        return term.en if lang == "en" else term.zh

    def __contains__(self, code: object) -> bool:
        return code in self.terms


def Coded(vocabulary: Vocabulary, *, max_length: int = 64) -> BeforeValidator:
    """Metadata making a field take a code or label of `vocabulary` and hold the code:
    `Annotated[str, Coded(GROUPS)]` (or an enum or int type in place of `str`)."""

    def to_code(value: object) -> object:
        if isinstance(value, str) and len(value) > max_length:
            raise PydanticCustomError(
                "string_too_long", "at most {max} characters", {"max": max_length}
            )
        return vocabulary.validate(value)

    return BeforeValidator(to_code, json_schema_input_type=str)


def described(vocabulary: Vocabulary) -> Any:
    """A Field describing what a coded field takes, for the OpenAPI document."""
    codes = ", ".join(vocabulary.terms)
    return Field(description=f"A code of GET /{vocabulary.name} ({codes}) or its Chinese label")


class Group(StrEnum):
    """Groups of persons (人员类别) the seeds' stations serve."""

    ELDERLY = "elderly"
    ELDERLY_LIVING_ALONE = "elderly_living_alone"
    ELDERLY_LEFT_BEHIND = "elderly_left_behind"
    DISABLED = "disabled"  # with a grade 1–4
    LEFT_BEHIND_CHILD = "left_behind_child"
    CHILD_IN_DIFFICULTY = "child_in_difficulty"
    ORPHAN = "orphan"
    DEMENTIA = "dementia"
    SERIOUS_ILLNESS = "serious_illness"
    DIBAO = "dibao"
    TEKUN = "tekun"


GROUPS = Vocabulary(
    "groups",
    "unknown_group",
    what="group",
    terms=[
        Term(Group.ELDERLY, "老年人", "Older people", ("老人",)),
        Term(Group.ELDERLY_LIVING_ALONE, "独居老人", "Older people living alone", ("空巢老人",)),
        Term(Group.ELDERLY_LEFT_BEHIND, "留守老人", "Left-behind older people"),
        Term(Group.DISABLED, "残疾人", "Persons with disabilities", ("残疾",)),
        Term(Group.LEFT_BEHIND_CHILD, "留守儿童", "Left-behind children"),
        Term(Group.CHILD_IN_DIFFICULTY, "困境儿童", "Children in difficulty"),
        Term(Group.ORPHAN, "孤儿", "Orphans", ("事实无人抚养儿童",)),
        Term(Group.DEMENTIA, "认知障碍", "Dementia", ("失智老人",)),
        Term(Group.SERIOUS_ILLNESS, "重病患者", "Serious illness", ("重病",)),
        Term(Group.DIBAO, "低保对象", "Minimum-living-allowance recipients", ("低保",)),
        Term(Group.TEKUN, "特困人员", "Persons in extreme poverty", ("特困", "特困供养")),
    ],
)


class Hardship(StrEnum):
    """Why a household is on file (困难类型)."""

    DIBAO = "dibao"
    NEAR_DIBAO = "near_dibao"
    TEKUN = "tekun"
    EXPENDITURE = "expenditure"
    TEMPORARY_ASSISTANCE = "temporary_assistance"


HARDSHIPS = Vocabulary(
    "hardship-types",
    "unknown_hardship",
    what="hardship type",
    terms=[
        Term(Hardship.DIBAO, "低保", "Minimum living allowance (dibao)", ("低保户", "低保家庭")),
        Term(Hardship.NEAR_DIBAO, "低保边缘", "Near-dibao", ("低保边缘户", "低保边缘家庭")),
        Term(Hardship.TEKUN, "特困", "Extreme poverty (tekun)", ("特困人员", "特困供养")),
        Term(Hardship.EXPENDITURE, "支出型困难", "Expenditure-driven hardship", ("支出型",)),
        Term(Hardship.TEMPORARY_ASSISTANCE, "临时救助", "Temporary assistance"),
    ],
)

RESOURCE_KINDS = Vocabulary(
    "resource-kinds",
    "unknown_resource_kind",
    what="resource kind",
    terms=[
        Term("enterprise", "爱心企业", "Enterprise", ("企业",)),
        Term("charity", "慈善组织", "Charity", ("社会组织", "公益组织", "基金会")),
        Term("volunteer", "志愿者", "Volunteers", ("志愿服务队", "志愿队")),
        Term("department", "政府部门", "Government department", ("部门", "政府")),
    ],
)

TIERS = Vocabulary(
    "tiers",
    "unknown_tier",
    what="service tier",
    terms=[
        Term("1", "一级", "Tier 1 (most intensive)", ("1级", "一级（重点）")),
        Term("2", "二级", "Tier 2", ("2级",)),
        Term("3", "三级", "Tier 3", ("3级",)),
        Term("4", "四级", "Tier 4", ("4级",)),
        Term("5", "五级", "Tier 5 (lightest)", ("5级",)),
    ],
)

CAPACITY_UNITS = Vocabulary(
    "capacity-units",
    "unknown_unit",
    what="unit",
    terms=[
        Term("persons", "人", "Persons", ("人次", "名", "位", "户", "people", "person")),
        Term("hours", "小时", "Hours", ("时", "工时", "hour", "h")),
        Term("portions", "份", "Portions", ("餐", "顿", "份餐", "meals", "meal")),
        Term("items", "件", "Items", ("个", "台", "套", "item")),
        Term("sessions", "次", "Sessions", ("场", "节", "课时", "session")),
        Term("yuan", "元", "Yuan", ("人民币", "rmb", "cny")),
        Term("beds", "床位", "Beds", ("床", "张床", "bed")),
    ],
)

CAPACITY_PERIODS = Vocabulary(
    "capacity-periods",
    "unknown_period",
    what="capacity period",
    terms=[
        Term("once", "一次性", "Once", ("一次", "不重置")),
        Term("week", "每周", "Weekly", ("周", "每星期")),
        Term("month", "每月", "Monthly", ("月", "每个月")),
        Term("year", "每年", "Yearly", ("年", "每年度")),
    ],
)

CAPACITY_MODES = Vocabulary(
    "capacity-modes",
    "unknown_capacity_mode",
    what="capacity mode",
    terms=[
        Term("capacity", "满额停止", "Stop when full", ("停止",)),
        Term("waitlist", "候补", "Waitlist", ("排队候补", "排队")),
    ],
)

CATEGORIES = Vocabulary(
    "categories",
    "unknown_category",
    what="category",
    terms=[Term(c.code, c.zh, c.en, parent=c.parent) for c in taxonomy.CATEGORIES.values()],
)

ALL: dict[str, Vocabulary] = {
    v.name: v
    for v in (
        CATEGORIES,
        GROUPS,
        RESOURCE_KINDS,
        HARDSHIPS,
        TIERS,
        CAPACITY_UNITS,
        CAPACITY_PERIODS,
        CAPACITY_MODES,
    )
}

GroupCode = Annotated[str, Coded(GROUPS, max_length=40), described(GROUPS)]
HardshipCode = Annotated[str, Coded(HARDSHIPS, max_length=40), described(HARDSHIPS)]
CategoryCode = Annotated[str, Coded(CATEGORIES), described(CATEGORIES)]
UnitCode = Annotated[str, Coded(CAPACITY_UNITS, max_length=20), described(CAPACITY_UNITS)]
TierCode = Annotated[int, Coded(TIERS, max_length=10), described(TIERS)]
KindCode = Annotated[ResourceKind, Coded(RESOURCE_KINDS), described(RESOURCE_KINDS)]


def units_compatible(need_unit: str, capacity_unit: str) -> bool:
    """Whether a resource counting its capacity in `capacity_unit` can serve a quantity given
    in `need_unit`: both name the same unit of the vocabulary (persons are not hours)."""
    need = CAPACITY_UNITS.code_of(need_unit) or need_unit
    offered = CAPACITY_UNITS.code_of(capacity_unit) or capacity_unit
    return need == offered


ELDERLY_AGE = 60  # 老年人权益保障法: citizens aged sixty and over
_IMPLIES: dict[str, str] = {
    Group.ELDERLY_LIVING_ALONE: Group.ELDERLY,
    Group.ELDERLY_LEFT_BEHIND: Group.ELDERLY,
    Group.ORPHAN: Group.CHILD_IN_DIFFICULTY,
}
_HARDSHIP_GROUP: dict[str, str] = {Hardship.DIBAO: Group.DIBAO, Hardship.TEKUN: Group.TEKUN}


def for_eligibility(recorded: list[str], *, age: int | None, hardship: list[str]) -> list[str]:
    """Every group a person counts as for a resource's eligibility: the recorded ones, what
    they imply (独居老人 is elderly), their age, and their household's 低保/特困 status."""
    result = set(recorded)
    result |= {_IMPLIES[g] for g in recorded if g in _IMPLIES}
    if age is not None and age >= ELDERLY_AGE:
        result.add(Group.ELDERLY.value)
    result |= {_HARDSHIP_GROUP[h] for h in hardship if h in _HARDSHIP_GROUP}
    return sorted(str(g) for g in result)
