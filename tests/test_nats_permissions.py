"""Each service's NATS user may make only the JetStream API calls it needs, on its own streams
and consumers, and read only its own replies (issue 13, item 2). Every user is walked through
what it must not do — each refused by nats-server with the real generated permissions — and
through what it needs, which still works."""

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, StreamConfig

from cli.nats_config import SERVICES
from cli.stack import Stack, StackConfig, free_port
from services.matcher import snapshot
from shared.contracts.resources import CAPACITY_RESERVE, resource_subject
from shared.contracts.streams import (
    DEADLETTER_STREAM,
    MATCHER_OUTCOMES_CONSUMER,
    NEEDS_STREAM,
    RESOURCES_STREAM,
    SERVICE_STREAMS,
    inbox_prefix,
)
from tests.conftest import KEYS_DIR
from tests.matcher.factories import index_of, state

TIMEOUT = 0.6


@pytest.fixture
def provisioned(tmp_path: Path) -> Iterator[Stack]:
    """nats-server with the generated permissions and the streams provisioned as admin."""
    stack = Stack(
        StackConfig(var_dir=tmp_path, nats_port=free_port(), keys_dir=KEYS_DIR),
        sink=lambda *_: None,
    )
    stack.start_nats()
    stack.provision_streams()
    yield stack
    stack.stop()


class User:
    """One service's connection, as the service makes it, with the errors the server sent."""

    def __init__(self, stack: Stack, name: str) -> None:
        self.stack, self.name = stack, name
        self.errors: list[str] = []
        self.nc: Client | None = None

    async def __aenter__(self) -> "User":
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc).lower())

        url = f"nats://127.0.0.1:{self.stack.nats_port}"
        self.nc = await nats.connect(
            url,
            user=self.name,
            password=self.stack.passwords[self.name],
            inbox_prefix=inbox_prefix(self.name),
            error_cb=on_error,
            allow_reconnect=False,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.nc is not None
        await self.nc.close()

    @property
    def js(self) -> Any:
        assert self.nc is not None
        return self.nc.jetstream(timeout=TIMEOUT)

    def violated(self, subject: str) -> bool:
        # e.g. `nats: permissions violation for subscription to "_inbox.>"`
        return any(
            "permissions violation" in e and subject.lower() in e.replace('"', "")
            for e in self.errors
        )


async def _refused(user: User, what: str, subject: str, call: Callable[[], Awaitable[Any]]) -> str:
    """'' when `call` failed and the server named a permissions violation on `subject`."""
    try:
        await call()
    except Exception:
        pass
    else:
        return f"{user.name} may {what}"
    assert user.nc is not None
    await user.nc.flush()
    await asyncio.sleep(0.05)
    return "" if user.violated(subject) else f"{user.name}: {what} failed, not as refused"


async def _must_not(user: User) -> list[str]:
    js = user.js
    other_stream = NEEDS_STREAM if user.name == "resources" else RESOURCES_STREAM
    own = SERVICE_STREAMS[user.name]
    foreign = DEADLETTER_STREAM if user.name == "matcher" else other_stream
    transform = StreamConfig(
        name=RESOURCES_STREAM.name,
        subjects=RESOURCES_STREAM.subjects,
        max_msgs_per_subject=1,
        subject_transform={"src": ">", "dest": "forged.>"},  # type: ignore[arg-type]
    )
    calls: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
        (
            "create a stream",
            "$JS.API.STREAM.CREATE.EVIL",
            lambda: js.add_stream(name="EVIL", subjects=["evil.>"]),
        ),
        (
            "update a stream",
            f"$JS.API.STREAM.UPDATE.{RESOURCES_STREAM.name}",
            lambda: js.update_stream(transform),
        ),
        (
            "delete a stream",
            f"$JS.API.STREAM.DELETE.{NEEDS_STREAM.name}",
            lambda: js.delete_stream(NEEDS_STREAM.name),
        ),
        (
            "purge a stream",
            f"$JS.API.STREAM.PURGE.{RESOURCES_STREAM.name}",
            lambda: js.purge_stream(RESOURCES_STREAM.name),
        ),
        (
            "delete a message",
            f"$JS.API.STREAM.MSG.DELETE.{RESOURCES_STREAM.name}",
            lambda: js.delete_msg(RESOURCES_STREAM.name, 1),
        ),
        (
            "make a consumer on a stream not its own",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{foreign.name}.spy",
            lambda: js.add_consumer(foreign.name, ConsumerConfig(durable_name="spy")),
        ),
        (
            "read another service's consumer",
            f"$JS.API.CONSUMER.INFO.{NEEDS_STREAM.name}.spy",
            lambda: js.consumer_info(NEEDS_STREAM.name, "spy"),
        ),
        (
            "delete a consumer",
            f"$JS.API.CONSUMER.DELETE.{NEEDS_STREAM.name}.{MATCHER_OUTCOMES_CONSUMER}",
            lambda: js.delete_consumer(NEEDS_STREAM.name, MATCHER_OUTCOMES_CONSUMER),
        ),
    ]
    if foreign not in own.checks:
        calls.append(
            (
                "look into a stream it does not use",
                f"$JS.API.STREAM.INFO.{foreign.name}",
                lambda: js.stream_info(foreign.name),
            )
        )
    if user.name != "resources":
        calls.append(
            (
                "publish a resource event",
                resource_subject("forged"),
                lambda: js.publish(resource_subject("forged"), b"{}"),
            )
        )
    # At once: a refused JetStream call is answered by nothing and waits out its TIMEOUT.
    problems = list(
        await asyncio.gather(
            *(_refused(user, what, subject, call) for what, subject, call in calls)
        )
    )
    assert user.nc is not None
    others = [f"{inbox_prefix(u)}.>" for u in SERVICES if u != user.name]
    for subject in ["_INBOX.>", ">", *others]:
        await user.nc.subscribe(subject)
        await user.nc.flush()
        await asyncio.sleep(0.05)
        if not user.violated(f"subscription to {subject}"):
            problems.append(f"{user.name} may subscribe to {subject}")
    return [p for p in problems if p]


@pytest.mark.integration
def test_every_service_user_is_refused_what_it_must_not_do(provisioned: Stack) -> None:
    async def walk(name: str) -> list[str]:
        async with User(provisioned, name) as user:
            return await _must_not(user)

    async def walk_all() -> list[str]:
        found = await asyncio.gather(*(walk(name) for name in SERVICES))
        return [problem for problems in found for problem in problems]

    assert asyncio.run(walk_all()) == []


@pytest.mark.integration
def test_what_each_service_needs_still_works(provisioned: Stack) -> None:
    async def scenario() -> None:
        async with (
            User(provisioned, "needs") as needs,
            User(provisioned, "resources") as resources,
            User(provisioned, "matcher") as matcher,
        ):
            for user in (needs, resources, matcher):
                for spec in SERVICE_STREAMS[user.name].checks:
                    assert (await user.js.stream_info(spec.name)).config.name == spec.name
            # Events into its own stream, acknowledged on its own inbox.
            await resources.js.publish(resource_subject("r-1"), b'{"ok": 1}')
            await needs.js.publish("lianjie.needs.referral.completed.v1", b'{"ok": 1}')

            # A request from needs answered by resources (allow_responses, not an inbox grant).
            async def answer(msg: Msg) -> None:
                await msg.respond(b"reserved")

            assert resources.nc is not None and needs.nc is not None
            await resources.nc.subscribe(CAPACITY_RESERVE, queue="resources", cb=answer)
            await resources.nc.flush()
            reply = await needs.nc.request(CAPACITY_RESERVE, b"{}", timeout=2)
            assert reply.data == b"reserved"
            # The matcher: an ordered consumer over the resources stream, its durable consumer
            # on the needs stream (create, fetch, ack).
            sub = await matcher.js.subscribe(
                f"{resource_subject('*')}", stream=RESOURCES_STREAM.name, ordered_consumer=True
            )
            assert (await sub.next_msg(timeout=2)).data == b'{"ok": 1}'
            pull = await matcher.js.pull_subscribe(
                "lianjie.needs.referral.*.v1",
                durable=MATCHER_OUTCOMES_CONSUMER,
                stream=NEEDS_STREAM.name,
            )
            fetched = await pull.fetch(1, timeout=2)
            await fetched[0].ack()
            # …and its index snapshots: written (twice: the second replaces the first, purging
            # its chunks), then the latest read back (as a restarted replica does).
            index = index_of(state())
            mark = snapshot.StreamMark(RESOURCES_STREAM.name, "-", 1)
            for _ in range(2):
                await snapshot.save(matcher.js, snapshot.capture(index, mark))
            found = await snapshot.load(matcher.js)
            assert found is not None and len(found.columns) == len(index) == 1
            for user in (needs, resources, matcher):
                assert not any("permissions violation" in e for e in user.errors), user.errors

    asyncio.run(scenario())
