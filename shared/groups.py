"""Vocabularies of who a person or household is, shared by needs, resources and the matcher.

`Group` codes are what a resource's `eligible_groups` name and what a need's ranking request
carries, so a resource for `elderly_living_alone` finds the person recorded in that group.
`Hardship` codes are the household's 困难类型. Both accept their Chinese label on input
(ledgers are written in Chinese) and are stored as codes.
"""

from enum import StrEnum


class Group(StrEnum):
    """Groups of persons (人员类别) the seeds' stations serve."""

    ELDERLY = "elderly"  # 老年人
    ELDERLY_LIVING_ALONE = "elderly_living_alone"  # 独居老人
    ELDERLY_LEFT_BEHIND = "elderly_left_behind"  # 留守老人
    DISABLED = "disabled"  # 残疾人 (with a grade 1–4)
    LEFT_BEHIND_CHILD = "left_behind_child"  # 留守儿童
    CHILD_IN_DIFFICULTY = "child_in_difficulty"  # 困境儿童
    ORPHAN = "orphan"  # 孤儿/事实无人抚养儿童
    DEMENTIA = "dementia"  # 认知障碍
    SERIOUS_ILLNESS = "serious_illness"  # 重病
    DIBAO = "dibao"  # 低保对象
    TEKUN = "tekun"  # 特困人员


GROUP_LABELS: dict[Group, str] = {
    Group.ELDERLY: "老年人",
    Group.ELDERLY_LIVING_ALONE: "独居老人",
    Group.ELDERLY_LEFT_BEHIND: "留守老人",
    Group.DISABLED: "残疾人",
    Group.LEFT_BEHIND_CHILD: "留守儿童",
    Group.CHILD_IN_DIFFICULTY: "困境儿童",
    Group.ORPHAN: "孤儿",
    Group.DEMENTIA: "认知障碍",
    Group.SERIOUS_ILLNESS: "重病患者",
    Group.DIBAO: "低保对象",
    Group.TEKUN: "特困人员",
}


class Hardship(StrEnum):
    """Why a household is on file (困难类型)."""

    DIBAO = "dibao"  # 低保
    NEAR_DIBAO = "near_dibao"  # 低保边缘
    TEKUN = "tekun"  # 特困
    EXPENDITURE = "expenditure"  # 支出型困难
    TEMPORARY_ASSISTANCE = "temporary_assistance"  # 临时救助


HARDSHIP_LABELS: dict[Hardship, str] = {
    Hardship.DIBAO: "低保",
    Hardship.NEAR_DIBAO: "低保边缘",
    Hardship.TEKUN: "特困",
    Hardship.EXPENDITURE: "支出型困难",
    Hardship.TEMPORARY_ASSISTANCE: "临时救助",
}

# Labels as ledgers write them, a few common variants included.
_GROUP_BY_LABEL: dict[str, Group] = {label: g for g, label in GROUP_LABELS.items()} | {
    "老人": Group.ELDERLY,
    "残疾": Group.DISABLED,
    "低保": Group.DIBAO,
    "特困": Group.TEKUN,
    "特困供养": Group.TEKUN,
    "失智老人": Group.DEMENTIA,
    "事实无人抚养儿童": Group.ORPHAN,
}
_HARDSHIP_BY_LABEL: dict[str, Hardship] = {label: h for h, label in HARDSHIP_LABELS.items()} | {
    "特困人员": Hardship.TEKUN,
    "特困供养": Hardship.TEKUN,
    "支出型": Hardship.EXPENDITURE,
}

_GROUP_CODES = {g.value for g in Group}
_HARDSHIP_CODES = {h.value for h in Hardship}


def group_code(value: str) -> Group | None:
    """The group a code or Chinese label names, or None."""
    text = value.strip()
    if text in _GROUP_CODES:
        return Group(text)
    return _GROUP_BY_LABEL.get(text)


def hardship_code(value: str) -> Hardship | None:
    """The hardship category a code or Chinese label names, or None."""
    text = value.strip()
    if text in _HARDSHIP_CODES:
        return Hardship(text)
    return _HARDSHIP_BY_LABEL.get(text)


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
