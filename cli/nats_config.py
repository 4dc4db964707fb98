"""The nats-server configuration `lianjie up` writes (and deploy/ renders for compose and k8s):
JetStream, and one user per service whose permissions name the subjects it may publish and
subscribe to, and the JetStream API calls it may make — only on its own streams and consumers
(shared/contracts/streams.py: SERVICE_STREAMS). No service may create, update, delete or purge a
stream or delete a message: `lianjie streams provision` (run by `lianjie up`) does that as
`admin`, the user for people and tools (CLI, tests, benchmarks). Each user has its own reply
inbox (`_INBOX_<user>`); responders answer through `allow_responses`, not a wildcard publish
into everyone's inboxes.

The API for deploy/: `permissions(service)` and `users(passwords)` are pure functions of the
service list (`SERVICES`); `render(...)` is the whole file."""

import json
import secrets
from pathlib import Path
from typing import Any

from cli.settings import JetStreamSettings
from shared.contracts.streams import SERVICE_STREAMS, StreamUse, deadletter_subject, inbox_prefix
from shared.contracts.tokens import TOKENS_REVOKED_ALL

SERVICES = ("needs", "resources", "matcher")
ADMIN = "admin"
JS_API = "$JS.API"

# Core subjects, per service: what it publishes (events, requests) and subscribes to (requests
# it answers). Replies to its own requests come to its own inbox (added below).
_SUBJECTS: dict[str, dict[str, list[str]]] = {
    "needs": {
        "publish": [
            "lianjie.needs.>",
            "lianjie.matcher.rank.v1",
            "lianjie.matcher.reverse.v1",
            "lianjie.resources.capacity.>",
            "lianjie.resources.resource.card.v1",
            deadletter_subject("needs_reservation_promotions"),
            TOKENS_REVOKED_ALL,  # it signs tokens, so it ends them (shared/contracts/tokens.py)
        ],
        "subscribe": [],
    },
    "resources": {
        # Its capacity-flag consumer (services/resources/events.py) reports poison messages.
        "publish": [
            "lianjie.resources.resource.>",
            "lianjie.resources.reservation.>",
            deadletter_subject("resources_capacity_flags"),
        ],
        "subscribe": ["lianjie.resources.capacity.>", "lianjie.resources.resource.card.v1"],
    },
    "matcher": {
        # Its consumers (services/matcher/events.py) report poison messages to their dead letters.
        "publish": [
            deadletter_subject("matcher_index"),
            deadletter_subject("matcher_outcomes"),
        ],
        "subscribe": ["lianjie.matcher.>"],
    },
}


def jetstream_api(use: StreamUse) -> list[str]:
    """The JetStream API subjects a service with this use may call, and nothing else."""
    subjects = [f"{JS_API}.STREAM.INFO.{spec.name}" for spec in use.checks]
    for spec in use.reads:  # ephemeral ordered consumers: created unnamed, flow-controlled
        subjects += [f"{JS_API}.CONSUMER.CREATE.{spec.name}", f"$JS.FC.{spec.name}.>"]
    for spec, durable in use.durables:
        subjects += [
            f"{JS_API}.CONSUMER.INFO.{spec.name}.{durable}",
            f"{JS_API}.CONSUMER.DURABLE.CREATE.{spec.name}.{durable}",
            f"{JS_API}.CONSUMER.CREATE.{spec.name}.{durable}",
            f"{JS_API}.CONSUMER.CREATE.{spec.name}.{durable}.>",
            f"{JS_API}.CONSUMER.MSG.NEXT.{spec.name}.{durable}",
            f"$JS.ACK.{spec.name}.{durable}.>",
        ]
    for spec in use.follows:  # followed from the last value per subject, then let go
        subjects += [
            f"{JS_API}.STREAM.INFO.{spec.name}",
            f"{JS_API}.CONSUMER.CREATE.{spec.name}",
            f"{JS_API}.CONSUMER.CREATE.{spec.name}.>",
            f"{JS_API}.CONSUMER.DELETE.{spec.name}.>",
            f"$JS.FC.{spec.name}.>",
        ]
    for spec in use.stores:  # objects: written as messages, read by ordered consumers
        subjects += [
            *spec.subjects,
            f"{JS_API}.STREAM.INFO.{spec.name}",
            f"{JS_API}.STREAM.MSG.GET.{spec.name}",
            f"{JS_API}.STREAM.PURGE.{spec.name}",
            f"{JS_API}.CONSUMER.CREATE.{spec.name}",
            f"{JS_API}.CONSUMER.CREATE.{spec.name}.>",
            f"$JS.FC.{spec.name}.>",
        ]
    return subjects


def permissions(service: str) -> dict[str, Any]:
    """The nats-server permissions of `service`'s user (a pure function of the service)."""
    subjects = _SUBJECTS[service]
    return {
        "publish": {
            "allow": [*subjects["publish"], *jetstream_api(SERVICE_STREAMS[service])],
        },
        "subscribe": {"allow": [*subjects["subscribe"], f"{inbox_prefix(service)}.>"]},
        # A responder may answer each request it received, once: no publish into inboxes.
        "allow_responses": {"max": 1},
    }


PERMISSIONS: dict[str, dict[str, Any]] = {service: permissions(service) for service in SERVICES}


def new_passwords() -> dict[str, str]:
    """A fresh random password for every service user and for admin."""
    return {user: secrets.token_urlsafe(24) for user in [*SERVICES, ADMIN]}


def users(passwords: dict[str, str]) -> list[dict[str, Any]]:
    """The `authorization.users` list: each service with its permissions, admin unrestricted."""
    listed: list[dict[str, Any]] = [
        {"user": name, "password": passwords[name], "permissions": permissions(name)}
        for name in SERVICES
    ]
    listed.append({"user": ADMIN, "password": passwords[ADMIN]})
    return listed


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
    return "\n".join(
        [
            f"listen: {json.dumps(f'{host}:{port}')}",
            jetstream_block(store=store, sync_interval=sync_interval),
            f"authorization {{ users: {json.dumps(users(passwords), indent=2)} }}",
        ]
    )


def write(*, folder: Path, host: str, port: int, passwords: dict[str, str]) -> Path:
    """Write the config (JetStream's sync policy from LIANJIE_JETSTREAM_SYNC_INTERVAL) and a
    users file (mode 0600) that local tools read for admin access."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # the JetStream store: events, owner only
    config = folder / "nats.conf"
    sync_interval = JetStreamSettings().sync_interval
    config.write_text(
        render(host=host, port=port, store=folder, passwords=passwords, sync_interval=sync_interval)
    )
    config.chmod(0o600)
    users_file = folder / "users.json"
    users_file.write_text(json.dumps({"url": f"nats://{host}:{port}", "passwords": passwords}))
    users_file.chmod(0o600)
    return config


def admin_url(var_dir: Path) -> str | None:
    """The admin URL (with credentials) of the NATS that `lianjie up` started in `var_dir`."""
    users_file = var_dir / "nats" / "users.json"
    if not users_file.exists():
        return None
    data = json.loads(users_file.read_text())
    return str(data["url"]).replace("nats://", f"nats://{ADMIN}:{data['passwords'][ADMIN]}@", 1)
