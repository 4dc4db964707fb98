"""The NATS configuration of docker-compose and k8s is generated from cli/nats_config.py (the
users and permissions `lianjie up` writes), and nats-server accepts it with the secrets that
`lianjie keys` makes."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cli import deploy, nats_config
from cli.stack import nats_server_binary


def test_committed_nats_configs_equal_the_generated_ones() -> None:
    for path, text in deploy.rendered_files().items():
        assert path.read_text(encoding="utf-8") == text, "run: lianjie deploy render-nats"


def test_every_user_of_lianjie_up_is_in_the_deployed_config_with_a_secret_password() -> None:
    text = deploy.render_nats(deploy.COMPOSE_ROUTES)
    for user in [*nats_config.PERMISSIONS, nats_config.ADMIN]:
        assert f'"user": "{user}"' in text
        assert f"${deploy.password_variable(user)}" in text
    assert "@@" not in text


def test_keys_are_made_once_and_private(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    names = deploy.make_keys(folder)
    before = {name: (folder / name).read_bytes() for name in names}
    assert deploy.make_keys(folder) == names
    assert {name: (folder / name).read_bytes() for name in names} == before, "kept, not remade"
    private = [n for n in names if n != "signing-key.pub.pem"]
    assert all((folder / n).stat().st_mode & 0o077 == 0 for n in private)
    assert "lianjie_needs" in (folder / "database_url_needs").read_text()


@pytest.mark.parametrize("path", list(deploy.rendered_files()), ids=lambda p: p.parent.name)
def test_nats_server_accepts_the_config_with_the_generated_passwords(
    tmp_path: Path, path: Path
) -> None:
    secrets = tmp_path / "secrets"
    deploy.make_keys(secrets)
    shutil.copy(path, tmp_path / "nats.conf")
    (tmp_path / "secret").mkdir()
    shutil.copy(secrets / "nats_passwords.conf", tmp_path / deploy.PASSWORDS_INCLUDE)
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(tmp_path / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        env={**os.environ, "NATS_SERVER_NAME": "nats-1"},
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
