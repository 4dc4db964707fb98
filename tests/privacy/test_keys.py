"""Personal-data keys: generated once for `lianjie up`, rotated with `lianjie pii reencrypt`
while old rows stay readable; free text leaves the service without personal data."""

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from cli.main import app as cli
from cli.stack import Stack, StackConfig
from services.needs.models import Person
from services.needs.privacy import redact
from services.resources.app import MIGRATIONS as RESOURCES_MIGRATIONS
from shared import crypto
from shared.crypto import PII_VARIABLES, FieldCipher, new_key
from shared.db import create_db_engine, migrate, session_factory
from tests.conftest import Databases
from tests.privacy.test_personal_data import NAME, NUMBER, household, ok, person


@pytest.fixture
def restore_cipher() -> Iterator[None]:
    yield
    crypto.configure(None)  # the next use builds it from the (restored) environment again


def test_stack_generates_keys_once_into_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PII_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    first = Stack(StackConfig(var_dir=tmp_path)).pii_env
    key_file = tmp_path / "keys" / "pii.env"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert set(first) == set(PII_VARIABLES)
    assert Stack(StackConfig(var_dir=tmp_path)).pii_env == first, "made once, then reused"
    FieldCipher.from_settings(
        keys=first["LIANJIE_PII_KEYS"],
        current=first["LIANJIE_PII_CURRENT_KEY"],
        index_key=first["LIANJIE_PII_INDEX_KEY"],
    )


def test_configured_keys_win_over_generated_ones(tmp_path: Path) -> None:
    assert os.environ["LIANJIE_PII_KEYS"], "tests/conftest.py sets them"
    assert Stack(StackConfig(var_dir=tmp_path)).pii_env == {}
    assert not (tmp_path / "keys" / "pii.env").exists()


def test_rotation_reencrypts_every_row_and_reindexes_while_old_rows_stay_readable(
    engine: Engine,
    databases: Databases,
    needs_as: Callable[..., TestClient],
    monkeypatch: pytest.MonkeyPatch,
    restore_cipher: None,
) -> None:
    sw = needs_as("social_worker")
    home = household(sw)
    ok(person(sw, home), 201)
    resources_url = databases.url(engine.dialect.name, "resources")
    resources_engine = create_db_engine(resources_url)
    migrate(resources_engine, RESOURCES_MIGRATIONS)
    resources_engine.dispose()

    old = os.environ["LIANJIE_PII_KEYS"]
    monkeypatch.setenv("LIANJIE_PII_KEYS", f"{old},k2:{new_key()}")
    monkeypatch.setenv("LIANJIE_PII_CURRENT_KEY", "k2")
    monkeypatch.setenv("LIANJIE_PII_INDEX_KEY", new_key())
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli,
        ["pii", "reencrypt", "--needs-database-url", url],
        env={"LIANJIE_RESOURCES_DATABASE_URL": resources_url},
    )
    assert result.exit_code == 0, result.output
    assert "needs: 2 rows re-encrypted under key k2" in result.output
    assert NAME not in result.output and NUMBER not in result.output

    with engine.connect() as conn:
        raw = conn.execute(text("SELECT name, resident_id, phone FROM person")).one()
    assert all(value.startswith("v1:k2:") for value in raw)
    # Only the new key is needed now; the ID number is found under the new index key.
    only_new = ",".join(p for p in os.environ["LIANJIE_PII_KEYS"].split(",") if p[:3] == "k2:")
    monkeypatch.setenv("LIANJIE_PII_KEYS", only_new)
    crypto.configure(None)
    with session_factory(engine)() as session:
        found = session.scalars(
            select(Person).where(Person.resident_id_hash == crypto.index_of(NUMBER))
        ).one()
        assert (found.name, found.resident_id) == (NAME, NUMBER)


def test_free_text_for_the_matcher_loses_known_values_and_long_numbers() -> None:
    note = f"{NAME}需要助餐, 电话 139-8765-0321, 身份证{NUMBER.lower()}, 3组12号, 80岁"
    assert redact(note, known=[NAME]) == "＊需要助餐, 电话 ＊, 身份证＊, 3组12号, 80岁"
