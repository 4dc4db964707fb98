"""The early-warning rule language: a small structured format the county writes as JSON.

A condition is one of

- ``{"all": [c, …]}``, ``{"any": [c, …]}``, ``{"not": c}``;
- ``{"fact": NAME, "op": OP, "value": V}`` — compare a fact of the person (`FACTS`) with a
  number or a code; a fact the record does not have (an unknown age) makes the comparison false;
- ``{"has": "hardship" | "group", "value": CODE}`` — the household's hardship types or the
  person's groups include the code;
- ``{"observed": CODE, "within_days": N}`` — a visit within the last N days recorded the
  observation (from the county's checklist).

Example, "lives alone and over 80 and no visit in 60 days"::

    {"all": [{"observed": "lives_alone", "within_days": 365},
             {"fact": "age", "op": ">=", "value": 80},
             {"fact": "days_since_visit", "op": ">", "value": 60}]}
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

MAX_DEPTH = 8

NumberFacts = Literal["age", "tier", "days_since_visit", "days_since_exit", "disability_grade"]
CodeFacts = Literal["case_status", "exit_reason", "gender"]
FACTS: dict[str, str] = {
    "age": "years since the date of birth",
    "tier": "service tier 1–5",
    "days_since_visit": "days since the last visit (or since the case became active)",
    "days_since_exit": "days since the case exited (only for exited cases)",
    "disability_grade": "disability grade 1–4",
    "case_status": "applied | active | exited",
    "exit_reason": "why the case exited",
    "gender": "male | female",
}

CODE_FACTS = frozenset({"case_status", "exit_reason", "gender"})

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass
class Facts:
    """What a rule can see of one person on one day (ids and codes; no names)."""

    person_id: str
    household_id: str
    adcode: str
    numbers: dict[str, int | None]
    codes: dict[str, str | None]
    hardship: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    # observation code → the latest day a visit recorded it
    observed: dict[str, date] = field(default_factory=dict)
    as_of: date = field(default_factory=date.today)


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")


class All(_Node):
    all: list[Condition] = Field(min_length=1, max_length=32)

    def holds(self, facts: Facts) -> bool:
        return all(c.holds(facts) for c in self.all)


class AnyOf(_Node):
    any: list[Condition] = Field(min_length=1, max_length=32)

    def holds(self, facts: Facts) -> bool:
        return any(c.holds(facts) for c in self.any)


class Not(_Node):
    not_: Condition = Field(alias="not")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def holds(self, facts: Facts) -> bool:
        return not self.not_.holds(facts)


class NumberFact(_Node):
    fact: NumberFacts
    op: Literal["<", "<=", "==", "!=", ">=", ">"]
    value: int = Field(ge=-100_000, le=100_000)

    def holds(self, facts: Facts) -> bool:
        actual = facts.numbers.get(self.fact)
        return actual is not None and _OPS[self.op](actual, self.value)


class CodeFact(_Node):
    fact: CodeFacts
    op: Literal["==", "!="]
    value: str = Field(min_length=1, max_length=64)

    def holds(self, facts: Facts) -> bool:
        actual = facts.codes.get(self.fact)
        return actual is not None and _OPS[self.op](actual, self.value)


class Has(_Node):
    has: Literal["hardship", "group"]
    value: str = Field(min_length=1, max_length=64)

    def holds(self, facts: Facts) -> bool:
        held = facts.hardship if self.has == "hardship" else facts.groups
        return self.value in held


class Observed(_Node):
    observed: str = Field(min_length=1, max_length=64)
    within_days: int = Field(365, ge=1, le=3660)

    def holds(self, facts: Facts) -> bool:
        seen = facts.observed.get(self.observed)
        return seen is not None and (facts.as_of - seen).days <= self.within_days


def _kind(value: Any) -> str | None:
    """Which kind of condition a JSON object is, by its keys (so errors name one kind)."""
    if not isinstance(value, dict):
        return type(value).__name__.lower() if isinstance(value, BaseModel) else None
    for key in ("all", "any", "not", "has", "observed"):
        if key in value:
            return key
    if "fact" in value:
        return "code" if value["fact"] in FACTS and value["fact"] in CODE_FACTS else "number"
    return None


Condition = Annotated[
    Annotated[All, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[NumberFact, Tag("number")]
    | Annotated[CodeFact, Tag("code")]
    | Annotated[Has, Tag("has")]
    | Annotated[Observed, Tag("observed")],
    Discriminator(
        _kind,
        custom_error_type="condition_kind",
        custom_error_message="a condition has one of the keys all, any, not, fact, has, observed",
    ),
]
for _model in (All, AnyOf, Not):
    _model.model_rebuild()


class RuleExpression(BaseModel):
    """A rule's condition, checked for depth and for observation codes the county knows."""

    model_config = ConfigDict(extra="forbid")

    when: Condition

    @model_validator(mode="after")
    def _not_too_deep(self) -> RuleExpression:
        if _depth(self.when) > MAX_DEPTH:
            raise ValueError(f"conditions nest at most {MAX_DEPTH} deep")
        return self

    def holds(self, facts: Facts) -> bool:
        return self.when.holds(facts)

    def observations(self) -> set[str]:
        """The observation codes the rule refers to."""
        return set(_walk(self.when, Observed, lambda n: n.observed))


def _children(node: Any) -> list[Any]:
    if isinstance(node, All):
        return list(node.all)
    if isinstance(node, AnyOf):
        return list(node.any)
    if isinstance(node, Not):
        return [node.not_]
    return []


def _depth(node: Any) -> int:
    return 1 + max((_depth(c) for c in _children(node)), default=0)


def _walk(node: Any, kind: type, pick: Callable[[Any], str]) -> list[str]:
    found = [pick(node)] if isinstance(node, kind) else []
    for child in _children(node):
        found += _walk(child, kind, pick)
    return found
