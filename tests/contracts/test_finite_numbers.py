"""No contract takes NaN or Infinity: every float field of every model in shared/contracts (and
of the resources service's HTTP models) refuses them with the rule `finite_number`.

The fields are found by walking the models' annotations (floats inside Optional, lists, dicts
and nested models included), so a float field added later is covered without touching this file.
"""

import inspect
import json
import math
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from services.resources import schemas as resource_schemas
from shared.contracts import common, matcher, needs, resources, streams

MODULES = (common, matcher, needs, resources, streams, resource_schemas)
MODELS: list[type[BaseModel]] = sorted(
    {
        model
        for module in MODULES
        for _name, model in inspect.getmembers(module, inspect.isclass)
        if issubclass(model, BaseModel) and model.__module__ == module.__name__
    },
    key=lambda model: model.__name__,
)
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
Path = tuple[str | int, ...]


def _float_paths(annotation: Any, seen: frozenset[type] = frozenset()) -> Iterator[Path]:
    """Where a float sits inside a value of `annotation`, as a path of keys and indexes."""
    origin = get_origin(annotation)
    if annotation is float:
        yield ()
    elif origin is Annotated:
        yield from _float_paths(get_args(annotation)[0], seen)
    elif origin in (Union, types.UnionType):
        for arm in get_args(annotation):
            yield from _float_paths(arm, seen)
    elif origin in (list, set, frozenset, tuple):
        for inner in get_args(annotation)[:1]:
            yield from ((0, *path) for path in _float_paths(inner, seen))
    elif origin is dict:
        yield from (("key", *path) for path in _float_paths(get_args(annotation)[1], seen))
    elif (
        inspect.isclass(annotation) and issubclass(annotation, BaseModel) and annotation not in seen
    ):
        yield from _model_paths(annotation, seen | {annotation})


def _model_paths(model: type[BaseModel], seen: frozenset[type] = frozenset()) -> Iterator[Path]:
    for name, info in model.model_fields.items():
        key = info.alias or name
        yield from ((key, *path) for path in _float_paths(info.annotation, seen | {model}))


def _placed(path: Path, value: float) -> Any:
    """A JSON-like value that has `value` at `path` (and nothing else)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    return [_placed(rest, value)] if isinstance(head, int) else {head: _placed(rest, value)}


FLOAT_FIELDS = [(model, path) for model in MODELS for path in _model_paths(model)]


def test_the_walk_finds_the_float_fields_we_know_of() -> None:
    found = {(model.__name__, path) for model, path in FLOAT_FIELDS}
    assert ("GeoPoint", ("lat",)) in found
    assert ("Explanation", ("components", "key")) in found
    assert ("RankReply", ("results", 0, "explanation", "weights", "key")) in found
    assert ("ResourceCreate", ("radius_km",)) in found
    assert ("ResourceUpserted", ("lat",)) in found
    assert len(found) >= 20


def _errors_at(exc: ValidationError, path: Path) -> list[str]:
    return [e["type"] for e in exc.errors() if tuple(e["loc"]) == path]


@pytest.mark.parametrize(
    ("model", "path"),
    FLOAT_FIELDS,
    ids=[f"{m.__name__}.{'.'.join(map(str, p))}" for m, p in FLOAT_FIELDS],
)
@settings(max_examples=6, deadline=None)
@given(value=NOT_FINITE)
def test_every_float_field_refuses_nan_and_infinity(
    model: type[BaseModel], path: Path, value: float
) -> None:
    document = _placed(path, value)
    with pytest.raises(ValidationError) as from_python:
        model.model_validate(document)
    assert _errors_at(from_python.value, path) == ["finite_number"]
    # Python's json writes NaN and Infinity, and pydantic's JSON parser reads them: refused too.
    with pytest.raises(ValidationError) as from_json:
        model.model_validate_json(json.dumps(document))
    assert _errors_at(from_json.value, path) == ["finite_number"]
