"""Settings from `<VARIABLE>_FILE` files, as docker-compose and Kubernetes mount secrets."""

from pathlib import Path

import pytest

from services.needs.settings import NeedsSettings
from shared.settings import CommonSettings


def test_a_secret_is_read_from_the_file_its_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nats_password").write_text("s3cret\n")
    (tmp_path / "database_url").write_text("postgresql+psycopg://needs:pw@db/needs")
    monkeypatch.delenv("LIANJIE_NATS_PASSWORD", raising=False)
    monkeypatch.delenv("LIANJIE_NEEDS_DATABASE_URL", raising=False)
    monkeypatch.setenv("LIANJIE_NATS_PASSWORD_FILE", str(tmp_path / "nats_password"))
    monkeypatch.setenv("LIANJIE_NEEDS_DATABASE_URL_FILE", str(tmp_path / "database_url"))
    monkeypatch.setenv("LIANJIE_JETSTREAM_REPLICAS", "3")
    settings = NeedsSettings()
    assert settings.common.nats_password == "s3cret"
    assert settings.common.jetstream_replicas == 3
    assert settings.database_url == "postgresql+psycopg://needs:pw@db/needs"


def test_a_variable_set_directly_wins_over_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "user").write_text("from-file")
    monkeypatch.setenv("LIANJIE_NATS_USER_FILE", str(tmp_path / "user"))
    monkeypatch.setenv("LIANJIE_NATS_USER", "from-env")
    assert CommonSettings().nats_user == "from-env"


def test_a_missing_secret_file_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANJIE_NATS_USER_FILE", "/nonexistent/user")
    with pytest.raises(FileNotFoundError):
        CommonSettings()
