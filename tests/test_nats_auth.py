"""NATS is not open: each service connects as its own user, limited to its own subjects."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from pydantic import ValidationError

from cli.nats_config import admin_url, new_passwords, render, write
from cli.stack import Stack, StackConfig, free_port
from shared.contracts.resources import resource_subject
from shared.contracts.streams import RESOURCES_STREAM
from shared.demo import province_resources
from shared.messaging import ensure_streams
from tests.auth import bearer
from tests.conftest import KEYS_DIR


def _nats(folder: Path) -> Iterator[Stack]:
    config = StackConfig(var_dir=folder, nats_port=free_port(), keys_dir=KEYS_DIR)
    stack = Stack(config, sink=lambda *_: None)
    stack.start_nats()
    yield stack
    stack.stop()


@pytest.fixture
def nats_only(tmp_path: Path) -> Iterator[Stack]:
    yield from _nats(tmp_path)


@pytest.fixture
def nats_syncing_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """NATS fsyncing its store on its own schedule (every two minutes), not at each write as
    `lianjie up`'s does: a test about who may do what, not about what survives a power cut
    (test_lianjie_up_acknowledges_only_what_is_on_disk is), whose 20,000 publishes each waited
    for an fsync."""
    monkeypatch.setenv("LIANJIE_JETSTREAM_SYNC_INTERVAL", "2m")
    yield from _nats(tmp_path)


def _as(stack: Stack, user: str, password: str | None = None) -> str:
    secret = password if password is not None else stack.passwords[user]
    return f"nats://{user}:{secret}@127.0.0.1:{stack.nats_port}"


@pytest.mark.integration
def test_wrong_credentials_are_refused(nats_only: Stack) -> None:
    async def connect() -> None:
        await nats.connect(
            _as(nats_only, "needs", "not-the-password"),
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=2,
        )

    with pytest.raises(Exception) as refused:
        asyncio.run(connect())
    assert "authorization" in str(refused.value).lower() or refused.type.__name__.startswith(
        "NoServers"
    )


@pytest.mark.integration
def test_matcher_may_not_publish_resource_events(nats_only: Stack) -> None:
    async def scenario() -> tuple[list[str], int, int]:
        admin = await nats.connect(nats_only.nats_url)
        await ensure_streams(admin.jetstream())
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        matcher = await nats.connect(_as(nats_only, "matcher"), error_cb=on_error)
        await matcher.publish(resource_subject("forged"), b"{}")
        await matcher.flush()
        resources = await nats.connect(_as(nats_only, "resources"))
        await resources.publish(resource_subject("genuine"), b"{}")
        await resources.flush()
        await asyncio.sleep(0.3)
        info = await admin.jetstream().stream_info(RESOURCES_STREAM.name)
        forged = await _count(admin, resource_subject("forged"))
        for conn in (matcher, resources, admin):
            await conn.close()
        return errors, info.state.messages, forged

    errors, stored, forged = asyncio.run(scenario())
    assert any("permissions violation" in e.lower() for e in errors), errors
    assert forged == 0
    assert stored == 1, "the resources service's own event must still be accepted"


async def _count(nc: nats.NATS, subject: str) -> int:
    info = await nc.jetstream().stream_info(RESOURCES_STREAM.name, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


def test_admin_url_is_read_from_the_users_file(nats_only: Stack) -> None:
    assert admin_url(nats_only.config.var_dir) == nats_only.nats_url


IN_FLIGHT = 500


@pytest.mark.integration
def test_matcher_user_can_replay_a_large_resources_stream(nats_syncing_lazily: Stack) -> None:
    """Replaying needs JetStream flow control, which the matcher answers as its own user."""
    nats_only = nats_syncing_lazily
    states = province_resources(seed=7, count=20_000)

    async def publish() -> None:
        admin = await nats.connect(nats_only.nats_url)
        js = admin.jetstream()
        await ensure_streams(js)
        # Many publishes in flight at a time, each acked: one after the other, their round
        # trips took a good part of this test's time.
        for start in range(0, len(states), IN_FLIGHT):
            await asyncio.gather(
                *(
                    js.publish(resource_subject(s.resource_id), s.model_dump_json().encode())
                    for s in states[start : start + IN_FLIGHT]
                )
            )
        await admin.close()

    asyncio.run(publish())
    nats_only.config.ports["matcher"] = free_port()
    nats_only.start_service("matcher")
    nats_only.wait_ready(timeout=120, services=("matcher",))
    status = httpx.get(f"{nats_only.url('matcher')}/index", timeout=5, headers=bearer()).json()
    assert status["resources"] == len(states)


def test_lianjie_up_acknowledges_only_what_is_on_disk(nats_only: Stack) -> None:
    """The config `lianjie up` wrote (and nats-server started with) says its fsync policy."""
    config = (nats_only.config.var_dir / "nats" / "nats.conf").read_text()
    assert 'sync_interval: "always"' in config


def test_the_sync_policy_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANJIE_JETSTREAM_SYNC_INTERVAL", "1m30s")
    config = write(folder=tmp_path, host="127.0.0.1", port=4222, passwords=new_passwords())
    assert 'sync_interval: "1m30s"' in config.read_text()

    monkeypatch.setenv("LIANJIE_JETSTREAM_SYNC_INTERVAL", "sometimes")
    with pytest.raises(ValidationError) as refused:
        write(folder=tmp_path, host="127.0.0.1", port=4222, passwords=new_passwords())
    assert refused.value.errors()[0]["loc"] == ("sync_interval",)
    assert refused.value.errors()[0]["type"] == "string_pattern_mismatch"


def test_nats_server_default_policy_is_left_out_of_the_config(tmp_path: Path) -> None:
    """The bench compares `always` with nats-server's own default: no line at all."""
    text = render(
        host="127.0.0.1", port=4222, store=tmp_path, passwords=new_passwords(), sync_interval=None
    )
    assert "sync_interval" not in text
