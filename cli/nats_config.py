"""The nats-server configuration `lianjie up` writes: JetStream, and one user per service whose
permissions name the subjects it may publish and subscribe to (the matcher, for one, may not
publish resource events). An `admin` user is for people and tools (CLI, tests, benchmarks)."""

import json
import secrets
from pathlib import Path

from cli.settings import JetStreamSettings
from shared.contracts.streams import deadletter_subject

# Every service manages streams and consumers through the JetStream API (acks, and flow-control
# answers on $JS.FC, without which a replaying consumer stalls) and receives replies on inboxes;
# responders publish their answers to the requester's inbox.
_COMMON_PUBLISH = ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "_INBOX.>"]
_COMMON_SUBSCRIBE = ["_INBOX.>"]

PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "needs": {
        "publish": [
            "lianjie.needs.>",
            "lianjie.matcher.rank.v1",
            "lianjie.matcher.reverse.v1",
            "lianjie.resources.capacity.>",
            "lianjie.resources.resource.card.v1",
            *_COMMON_PUBLISH,
        ],
        "subscribe": [*_COMMON_SUBSCRIBE],
    },
    "resources": {
        "publish": ["lianjie.resources.>", *_COMMON_PUBLISH],
        "subscribe": [
            "lianjie.resources.capacity.>",
            "lianjie.resources.resource.card.v1",
            *_COMMON_SUBSCRIBE,
        ],
    },
    "matcher": {
        # Its consumers (services/matcher/events.py) report poison messages to their dead letters.
        "publish": [
            "lianjie.matcher.>",
            deadletter_subject("matcher_index"),
            deadletter_subject("matcher_outcomes"),
            *_COMMON_PUBLISH,
        ],
        "subscribe": ["lianjie.matcher.>", *_COMMON_SUBSCRIBE],
    },
}
ADMIN = "admin"


def new_passwords() -> dict[str, str]:
    """A fresh random password for every service user and for admin."""
    return {user: secrets.token_urlsafe(24) for user in [*PERMISSIONS, ADMIN]}


def jetstream_block(*, store: Path, sync_interval: str | None) -> str:
    """JetStream's store and its fsync policy; `None` leaves nats-server's default (every two
    minutes), which the bench compares against."""
    lines = [f"store_dir: {json.dumps(str(store))}"]
    if sync_interval is not None:
        lines.append(f"sync_interval: {json.dumps(sync_interval)}")
    return "jetstream {\n  " + "\n  ".join(lines) + "\n}"


def render(
    *, host: str, port: int, store: Path, passwords: dict[str, str], sync_interval: str | None
) -> str:
    """The nats-server configuration text."""
    users = [
        {"user": name, "password": passwords[name], "permissions": permissions}
        for name, permissions in PERMISSIONS.items()
    ]
    users.append({"user": ADMIN, "password": passwords[ADMIN]})
    return "\n".join(
        [
            f"listen: {json.dumps(f'{host}:{port}')}",
            jetstream_block(store=store, sync_interval=sync_interval),
            f"authorization {{ users: {json.dumps(users, indent=2)} }}",
        ]
    )


def write(*, folder: Path, host: str, port: int, passwords: dict[str, str]) -> Path:
    """Write the config (JetStream's sync policy from LIANJIE_JETSTREAM_SYNC_INTERVAL) and a
    users file (mode 0600) that local tools read for admin access."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "nats.conf"
    sync_interval = JetStreamSettings().sync_interval
    config.write_text(
        render(host=host, port=port, store=folder, passwords=passwords, sync_interval=sync_interval)
    )
    config.chmod(0o600)
    users = folder / "users.json"
    users.write_text(json.dumps({"url": f"nats://{host}:{port}", "passwords": passwords}))
    users.chmod(0o600)
    return config


def admin_url(var_dir: Path) -> str | None:
    """The admin URL (with credentials) of the NATS that `lianjie up` started in `var_dir`."""
    users = var_dir / "nats" / "users.json"
    if not users.exists():
        return None
    data = json.loads(users.read_text())
    return str(data["url"]).replace("nats://", f"nats://{ADMIN}:{data['passwords'][ADMIN]}@", 1)
