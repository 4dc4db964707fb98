"""Every float setting of every service refuses inf and NaN at start, naming the setting: a
weight of inf would otherwise turn every score into NaN and fail every request later."""

import pytest
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from services.matcher.settings import MatcherSettings
from services.needs.settings import NeedsSettings
from services.resources.settings import ResourcesSettings
from shared.settings import CommonSettings

SETTINGS: list[type[BaseSettings]] = [
    CommonSettings,
    MatcherSettings,
    NeedsSettings,
    ResourcesSettings,
]


def _is_nested_model(annotation: object) -> bool:
    """A plain pydantic model inside the settings (settings of their own read their own env)."""
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and not issubclass(annotation, BaseSettings)
    )


def _float_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of the float fields, nested models included."""
    paths = []
    for name, field in model.model_fields.items():
        if field.annotation is float:
            paths.append(prefix + name)
        elif _is_nested_model(field.annotation):
            paths += _float_paths(field.annotation, f"{prefix}{name}.")
    return paths


CASES = [(cls, path) for cls in SETTINGS for path in _float_paths(cls)]


def test_the_walk_finds_the_float_settings() -> None:
    assert (MatcherSettings, "weights.text") in CASES
    assert (MatcherSettings, "distance_scale_km") in CASES


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan"])
@pytest.mark.parametrize(("settings", "path"), CASES, ids=lambda c: getattr(c, "__name__", c))
def test_a_float_setting_refuses_inf_and_nan(
    settings: type[BaseSettings], path: str, bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = settings.model_config.get("env_prefix", "")
    delimiter = settings.model_config.get("env_nested_delimiter") or "__"
    monkeypatch.setenv(prefix + path.replace(".", delimiter).upper(), bad)
    with pytest.raises(ValidationError) as refused:
        settings()
    errors = refused.value.errors()
    assert [(".".join(map(str, e["loc"])), e["type"]) for e in errors] == [(path, "finite_number")]
