"""Every contract in shared/contracts, by property: any valid value survives model → JSON → model
unchanged, and any invalid field value is refused with an error that names that field.

Values are generated from each model's own JSON schema (so a new contract or field is covered
without touching this file); the few rules a JSON schema cannot state (a taxonomy code, a
point inside China) get their own strategies.
"""

import inspect
import math
from datetime import UTC
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared import taxonomy
from shared.contracts import common, matcher, needs, resources, streams, vocabulary
from shared.errors import field_errors

CONTRACTS: list[type[BaseModel]] = sorted(
    {
        model
        for module in (common, matcher, needs, resources, streams)
        for _name, model in inspect.getmembers(module, inspect.isclass)
        if issubclass(model, BaseModel) and model.__module__ == module.__name__
    },
    key=lambda model: model.__name__,
)
CATEGORIES = st.sampled_from(sorted(taxonomy.CATEGORIES))
# Points well inside China (Jiang'an, Beijing, Shanghai, Guangzhou, Urumqi), a little apart.
PLACES = [(28.73, 105.07), (39.90, 116.40), (31.23, 121.47), (23.13, 113.26), (43.83, 87.62)]
IN_CHINA = st.tuples(st.sampled_from(PLACES), st.floats(-0.2, 0.2), st.floats(-0.2, 0.2)).map(
    lambda p: {"lat": p[0][0] + p[1], "lon": p[0][1] + p[2]}
)
SPECIAL: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("RankRequest", "category"): CATEGORIES,
    ("RankRequest", "groups"): st.lists(st.sampled_from(list(vocabulary.GROUPS.terms)), max_size=3),
    ("ReverseCandidate", "category"): CATEGORIES,
    ("ReverseCandidate", "groups"): st.lists(
        st.sampled_from(list(vocabulary.GROUPS.terms)), max_size=3
    ),
}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _finite(schema: dict[str, Any]) -> st.SearchStrategy[float]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    return st.floats(
        min_value=low,
        max_value=high,
        exclude_min="exclusiveMinimum" in schema,
        exclude_max="exclusiveMaximum" in schema,
        allow_nan=False,
        allow_infinity=False,
    )


def _from_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for JSON values valid under the subset of JSON schema pydantic writes."""
    if "$ref" in schema:
        return _from_schema(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in schema:
        return st.one_of([_from_schema(option, defs) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(
            min_value=schema.get("minimum", -(2**31)), max_value=schema.get("maximum", 2**31)
        )
    if kind == "number":
        return _finite(schema)
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
        if schema.get("format") == "date":
            return st.dates().map(lambda d: d.isoformat())
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 30))
    if kind == "array":
        return st.lists(
            _from_schema(schema.get("items", {}), defs),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 4), 4),
        )
    if kind == "object" and "properties" in schema:
        return _object(schema, defs)
    if kind == "object":
        values = schema.get("additionalProperties") or {"type": "number"}
        return st.dictionaries(st.text(max_size=10), _from_schema(values, defs), max_size=3)
    raise NotImplementedError(f"no strategy for {schema}")


def _object(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    title = schema.get("title", "")
    if title == "GeoPoint":
        return IN_CHINA
    fields = {
        name: SPECIAL[(title, name)] if (title, name) in SPECIAL else _from_schema(prop, defs)
        for name, prop in schema["properties"].items()
    }
    needed = schema.get("required", [])
    required = {name: value for name, value in fields.items() if name in needed}
    optional = {name: value for name, value in fields.items() if name not in needed}
    return st.fixed_dictionaries(required, optional=optional)


def valid(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    schema = model.model_json_schema()
    return _object(schema, schema.get("$defs", {}))


@pytest.mark.parametrize("model", CONTRACTS, ids=lambda m: m.__name__)
def test_every_contract_survives_a_json_round_trip(model: type[BaseModel]) -> None:
    @SETTINGS
    @given(data=valid(model))
    def round_trip(data: dict[str, Any]) -> None:
        value = model.model_validate(data)
        again = model.model_validate_json(value.model_dump_json())
        assert again == value
        assert again.model_dump_json() == value.model_dump_json()

    round_trip()


def _invalid_values(prop: dict[str, Any]) -> list[Any]:
    """Values that break what the field's schema says (type, bounds, length, choices)."""
    options = prop.get("anyOf", [prop])
    if any(option.get("type") == "null" for option in options):
        options = [o for o in options if o.get("type") != "null"]
    if len(options) != 1:
        return []
    schema = options[0]
    kind = schema.get("type")
    is_object = kind == "object" or "$ref" in schema
    broken: list[Any] = ["not an object"] if is_object else [{"not": "a value"}]
    if "enum" in schema:
        broken.append("no-such-choice")
    if kind in ("integer", "number"):
        if "minimum" in schema:
            broken.append(schema["minimum"] - 1)
        if "exclusiveMinimum" in schema:
            broken.append(schema["exclusiveMinimum"])
        if "maximum" in schema:
            broken.append(schema["maximum"] + 1)
        if kind == "number" and "minimum" in schema:
            broken.append(math.nan)
    if kind == "string" and "maxLength" in schema:
        broken.append("x" * (schema["maxLength"] + 1))
    if kind == "array" and "maxItems" in schema:
        broken.append([None] * (schema["maxItems"] + 1))
    return broken


CASES = [
    (model, name, bad)
    for model in CONTRACTS
    if model.__name__ != "GeoPoint"
    for name, prop in model.model_json_schema()["properties"].items()
    for bad in _invalid_values(prop)
]


@pytest.mark.parametrize(
    ("model", "field", "bad"),
    CASES,
    ids=[f"{m.__name__}.{f}={b!r}"[:60] for m, f, b in CASES],
)
def test_an_invalid_field_is_refused_naming_that_field(
    model: type[BaseModel], field: str, bad: Any
) -> None:
    @settings(max_examples=5, deadline=None)
    @given(data=valid(model))
    def refused(data: dict[str, Any]) -> None:
        with pytest.raises(ValidationError) as caught:
            model.model_validate({**data, field: bad})
        named = {error.field.split(".")[0] for error in field_errors(caught.value.errors())}
        assert named == {field}
        assert all(error.rule for error in field_errors(caught.value.errors()))

    refused()


@SETTINGS
@given(point=IN_CHINA, bad=st.sampled_from(["lat", "lon"]), value=st.floats(181, 1e6))
def test_a_point_out_of_range_names_its_coordinate(
    point: dict[str, float], bad: str, value: float
) -> None:
    with pytest.raises(ValidationError) as caught:
        common.GeoPoint.model_validate({**point, bad: value})
    assert [e.field for e in field_errors(caught.value.errors())] == [bad]


# Unknown: naming nothing of the vocabulary, which also takes a category's labels in any case
# ("Micro-wishes", "MICRO-WISHES", 微心愿), not only its codes.
@SETTINGS
@given(
    code=st.text(min_size=1, max_size=64).filter(lambda c: vocabulary.CATEGORIES.code_of(c) is None)
)
def test_an_unknown_category_is_refused_by_its_rule(code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        matcher.RankRequest(category=code, lat=28.7, lon=105.0)
    errors = field_errors(caught.value.errors())
    assert [(e.field, e.rule) for e in errors] == [("category", "unknown_category")]


@pytest.mark.parametrize("label", ["Micro-wishes", "MICRO-WISHES", " micro-wishes ", "微心愿"])
def test_a_category_named_by_its_label_in_any_case_is_taken_as_its_code(label: str) -> None:
    assert matcher.RankRequest(category=label, lat=28.7, lon=105.0).category == "micro_wish"
