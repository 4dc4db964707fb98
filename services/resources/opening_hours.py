"""Opening hours (服务时间) as stations write them, read into weekly slots, and written back.

Read: `周一至周五 08:30-17:30`, `工作日 8:30-12:00 14:00-17:30`, `每天`, `周六、周日 9:00～11:30`,
`星期一到星期三 9:00至17:00; 周六 9:00-12:00`, or the codes (`mon 09:00-17:00`). Days without
times are open the whole day (00:00-23:59); times without days are every day. Anything else is
left as it was written, for `OpeningHours` to refuse with its rule.
"""

import re

from services.resources.schemas import WEEKDAYS, Weekday

_DAY_NUMBERS = "一二三四五六日天"
_DAY = r"(?:周|星期|礼拜)[一二三四五六日天]|mon|tue|wed|thu|fri|sat|sun"
_RANGE = r"\s*(?:至|到|-|–|—|~|～)\s*"
_TIME = r"(\d{1,2})[:：](\d{2})"
_SPAN = re.compile(_TIME + _RANGE + _TIME)
_DAY_SPAN = re.compile(rf"({_DAY})(?:{_RANGE}({_DAY}))?", re.IGNORECASE)
_NAMED: dict[str, tuple[Weekday, ...]] = {
    "每天": WEEKDAYS,
    "每日": WEEKDAYS,
    "全天": WEEKDAYS,
    "全年无休": WEEKDAYS,
    "工作日": WEEKDAYS[:5],
    "周末": WEEKDAYS[5:],
    "双休日": WEEKDAYS[5:],
}
_SLOTS = re.compile(r"[;；\n]|[,，](?=\s*(?:" + _DAY + "|" + "|".join(_NAMED) + "))", re.IGNORECASE)
ZH_DAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WHOLE_DAY = ("00:00", "23:59")


def _weekday(token: str) -> Weekday:
    token = token.lower()
    if token in WEEKDAYS:
        return token  # type: ignore[return-value]
    return WEEKDAYS[min(_DAY_NUMBERS.index(token[-1]), 6)]


def _days(text: str) -> tuple[list[Weekday], str]:
    """The days a slot names, and the text left once they are taken out."""
    days: list[Weekday] = []
    for name, named in _NAMED.items():
        if name in text:
            days += [d for d in named if d not in days]
            text = text.replace(name, " ")
    for match in _DAY_SPAN.finditer(text):
        first, last = (
            WEEKDAYS.index(_weekday(match[1])),
            WEEKDAYS.index(_weekday(match[2] or match[1])),
        )
        days += [d for d in WEEKDAYS[first : last + 1] if d not in days]
    return days, _DAY_SPAN.sub(" ", text)


def parse(value: str) -> list[dict[str, str]] | str:
    """The weekly slots `value` names; `value` itself when a part of it cannot be read."""
    slots: list[dict[str, str]] = []
    for part in _SLOTS.split(value):
        if not part.strip():
            continue
        days, rest = _days(part)
        spans = [(f"{int(a):02d}:{b}", f"{int(c):02d}:{d}") for a, b, c, d in _SPAN.findall(rest)]
        if _SPAN.sub(" ", rest).strip(" 、,，/和及:：") or not (days or spans):
            return value  # something neither a day nor a time: the model names the rule
        for day in days or list(WEEKDAYS):
            for opens, closes in spans or [WHOLE_DAY]:
                slots.append({"day": day, "opens": opens, "closes": closes})
    return slots


def write(slots: list[dict[str, str]]) -> str:
    """The slots as stations write them: `周一至周五 08:30-17:30; 周六 09:00-12:00`."""
    by_times: dict[tuple[str, ...], list[int]] = {}
    for slot in slots:
        days = by_times.setdefault((slot["opens"], slot["closes"]), [])
        days.append(WEEKDAYS.index(slot["day"]))  # type: ignore[arg-type]
    parts = []
    for (opens, closes), days in by_times.items():
        times = "" if (opens, closes) == WHOLE_DAY else f" {opens}-{closes}"
        parts.append(_day_list(sorted(set(days))) + times)
    return "; ".join(parts)


def _day_list(days: list[int]) -> str:
    if days == list(range(7)):
        return "每天"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return "、".join(
        ZH_DAYS[r[0]] if len(r) == 1 else f"{ZH_DAYS[r[0]]}至{ZH_DAYS[r[-1]]}" for r in runs
    )
