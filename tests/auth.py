"""Tokens for tests: in-process apps verify with a key pair made for this test run (set in the
environment by tests/conftest.py); a running stack signs with its own (`Stack.token`)."""

import os
import tempfile
from pathlib import Path
from typing import Any

from cli.stack import signed_token
from shared.auth import Role, ensure_keypair

JIANGAN_TOWN = "511523101"  # 江安县江安镇
JIANGAN_COUNTY = "511523"


def install_test_keys() -> Path:
    """This run's key pair, named in the environment for in-process apps; its folder, for
    stacks (`StackConfig(keys_dir=…)`), so one token works against every app of the run."""
    if not os.environ.get("LIANJIE_AUTH_PUBLIC_KEY_FILE"):
        private, public = ensure_keypair(Path(tempfile.mkdtemp(prefix="lianjie-keys-")))
        os.environ["LIANJIE_AUTH_PUBLIC_KEY_FILE"] = str(public)
        os.environ["LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE"] = str(private)
    return Path(os.environ["LIANJIE_AUTH_PUBLIC_KEY_FILE"]).parent


def token(role: Role | str = Role.ADMIN, **scope: Any) -> str:
    """A token signed with this run's key (what POST /auth/token would issue)."""
    install_test_keys()
    private = Path(os.environ["LIANJIE_NEEDS_AUTH_PRIVATE_KEY_FILE"]).read_bytes()
    return signed_token(private, role, **scope)


def bearer(role: Role | str = Role.ADMIN, **scope: str | None) -> dict[str, str]:
    """The Authorization header of a token of `role`."""
    return {"Authorization": f"Bearer {token(role, **scope)}"}  # type: ignore[arg-type]
