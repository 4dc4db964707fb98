"""One vocabulary per coded field, shared by needs, resources and the matcher: codes or Chinese
labels in, codes stored; anything else a 422 naming the item and the vocabulary's rule."""

import pytest
from pydantic import BaseModel, ValidationError

from shared import taxonomy
from shared.contracts import vocabulary
from shared.contracts.matcher import RankRequest
from shared.contracts.vocabulary import ALL, CategoryCode, GroupCode, TierCode
from shared.errors import field_errors


class _Body(BaseModel):
    category: CategoryCode
    groups: list[GroupCode] = []
    tier: TierCode | None = None


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_label_and_alias_names_one_code_of_its_vocabulary(name: str) -> None:
    vocab = ALL[name]
    seen: dict[str, str] = {}
    for term in vocab.terms.values():
        for spelling in (term.code, term.zh, *term.aliases):
            assert vocab.code_of(spelling) == term.code, (name, spelling)
            assert seen.setdefault(spelling, term.code) == term.code, (name, spelling)


def test_every_category_is_taken_by_its_chinese_label() -> None:
    for category in taxonomy.CATEGORIES.values():
        assert _Body.model_validate({"category": category.zh}).category == category.code
    assert _Body.model_validate({"category": "助餐送餐"}).category == "elderly_care.meals"


def test_an_unknown_item_is_refused_naming_the_item_and_the_rule() -> None:
    with pytest.raises(ValidationError) as refused:
        _Body.model_validate({"category": "meals", "groups": ["老年人", "xyz"], "tier": "六级"})
    errors = {(e.field, e.rule) for e in field_errors(refused.value.errors())}
    assert errors == {
        ("category", "unknown_category"),
        ("groups.1", "unknown_group"),
        ("tier", "unknown_tier"),
    }


def test_labels_are_stored_as_codes() -> None:
    body = _Body.model_validate(
        {"category": " 心理疏导 ", "groups": ["独居老人", "低保"], "tier": "一级"}
    )
    assert body.model_dump() == {
        "category": "psychological.counselling",
        "groups": ["elderly_living_alone", "dibao"],
        "tier": 1,
    }


def test_the_matcher_contract_reads_the_same_vocabulary() -> None:
    request = RankRequest.model_validate(
        {"category": "助餐送餐", "lat": 28.7, "lon": 105.0, "groups": ["残疾人"]}
    )
    assert (request.category, request.groups) == ("elderly_care.meals", ["disabled"])


def test_units_are_compatible_only_when_they_count_the_same_thing() -> None:
    assert vocabulary.units_compatible("persons", "人次")
    assert vocabulary.units_compatible("份", "portions")
    assert not vocabulary.units_compatible("hours", "persons")
    assert not vocabulary.units_compatible("portions", "yuan")
