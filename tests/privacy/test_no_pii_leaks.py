"""Data minimisation (issue 8): plant recognisable personal data in a household, a person, a
visit, a need, a referral note and the outcome feedback, run the whole referral loop over the
real stack, and find none of it in any NATS message (live or stored in JetStream), any log
line of any process, or any service's metrics."""

import asyncio
import re
import stat
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import sqlalchemy as sa
from nats.js.errors import NotFoundError

from cli.stack import SERVICES, Stack
from services.needs import resident_id as resident_ids
from services.needs.resident_id import check_digit
from shared.crypto import pii_key_file
from shared.db import create_db_engine
from tests.support.factories import resource_body

NAME = "测试隐私张三丰"
_FIRST17 = "51152319470707857"
NUMBER = _FIRST17 + check_digit(_FIRST17)
PHONE = "13987650321"
ADDRESS = "江安县江安镇隐私村九组八十八号"
CONTACT_NAME = "隐私联系人李四光"
CONTACT_PHONE = "13711072222"
PLANTED = (NAME, NUMBER, PHONE, ADDRESS, "隐私村", CONTACT_NAME, CONTACT_PHONE)
HERE = {"lat": 28.46, "lon": 104.12}  # a spot of its own, away from other tests' resources

_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
# Bounded by non-alphanumerics: eleven digits inside a UUID's hex are not a phone number.
_MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")


class NatsCapture:
    """Every message on every subject (`>`), collected on a thread of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopping: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    def __enter__(self) -> "NatsCapture":
        self.thread.start()
        assert self.ready.wait(10), "could not subscribe to > on NATS"
        return self

    def __exit__(self, *_: object) -> None:
        assert self.stopping is not None
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)
        self.loop.close()

    async def _run(self) -> None:
        self.stopping = asyncio.Event()
        nc = await nats.connect(self.url)

        async def collect(msg: Any) -> None:
            self.messages.append(f"{msg.subject} {msg.reply} {msg.headers} {_text(msg.data)}")

        await nc.subscribe(">", cb=collect)
        await nc.flush()
        self.ready.set()
        await self.stopping.wait()
        await nc.drain()


async def _stored_messages(url: str) -> list[str]:
    """Every message JetStream still holds, in every stream."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    found = []
    for info in await js.streams_info():
        for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
            try:
                msg = await js.get_msg(info.config.name, seq)
            except NotFoundError:
                continue
            found.append(f"{msg.subject} {msg.headers} {_text(msg.data or b'')}")
    await nc.close()
    return found


def _text(data: bytes) -> str:
    """Bytes as text, JSON's \\uXXXX escapes undone so Chinese text is seen as written."""
    text = data.decode("utf-8", "replace")
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def _leaks(texts: Iterable[str]) -> list[str]:
    """The planted strings, valid ID numbers and mobile numbers found in `texts`."""
    found = []
    for text in texts:
        plain = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)
        hits = [p for p in PLANTED if p in plain]
        for candidate in _ID_LIKE.findall(plain):
            try:
                resident_ids.validate(candidate)
            except ValueError:
                continue
            hits.append(f"ID number {candidate[:6]}…")
        hits += [f"mobile {m[:3]}…" for m in _MOBILE.findall(plain)]
        if hits:
            found.append(f"{hits}: {plain[:300]}")
    return found


def _named(exposition: str) -> str:
    """A metrics page without its sample values: personal data could only hide in names, label
    values and help texts, while a value (a byte count, a sum, a timestamp) may by chance be 18
    digits that pass an ID number's check."""
    return "\n".join(
        line if line.startswith("#") else line.rsplit(" ", 1)[0] for line in exposition.splitlines()
    )


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _run_the_loop(stack: Stack) -> None:
    """need → matches → referral → accept → start → complete, with PII planted throughout."""
    needs, resources = stack.url("needs"), stack.url("resources")
    admin = stack.client("admin")
    worker = stack.client("social_worker", sub="sw-privacy", adcode="511523")
    coordinator = stack.client("coordinator", sub="co-privacy", organization="demo")
    reviewer = stack.client(
        "alliance_reviewer", sub="rv-privacy", department="civil_affairs", adcode="511523"
    )
    with admin, worker, coordinator, reviewer:
        resource = resource_body(
            name="隐私测试助餐点",
            organization="demo",
            description="助餐送餐",
            location=HERE,
            radius_km=1.5,
            capacity={"total": 3, "unit": "persons", "period": "month"},
            contact_name=CONTACT_NAME,
            contact_phone=CONTACT_PHONE,
        )
        again = {"Idempotency-Key": "privacy-resource"}  # its answer is kept for a replay
        resource_id = ok(admin.post(f"{resources}/resources", json=resource, headers=again), 201)[
            "id"
        ]

        home = {"address": ADDRESS, "adcode": "511523101", "location": HERE}
        household_id = ok(worker.post(f"{needs}/households", json=home), 201)["id"]
        consent = {"given_on": "2026-01-05", "scope": ["case_file", "referral_sharing"]}
        body = {"name": NAME, "resident_id": NUMBER, "phone": PHONE, "is_head": True}
        body |= {"groups": ["独居老人"], "consent": consent, "tier": 2}
        persons = f"{needs}/households/{household_id}/persons"
        again = {"Idempotency-Key": "privacy-person"}
        person_id = ok(worker.post(persons, json=body, headers=again), 201)["id"]
        replayed = worker.post(persons, json=body, headers=again)
        assert replayed.headers.get("idempotent-replayed") == "true", "the replay works"
        assert ok(replayed, 201)["id"] == person_id
        # An ID number where an id belongs, with a key: its answer is kept, the path is not.
        misplaced = f"{needs}/households/{NUMBER}/persons"
        assert (
            worker.post(
                misplaced, json=body, headers={"Idempotency-Key": "privacy-path"}
            ).status_code
            == 404
        )
        # Errors about personal data name the field and the rule, never the value.
        for bad in ({**body, "name": "重复"}, {**body, "resident_id": NUMBER[:17] + "0"}):
            refused = worker.post(persons, json=bad)
            assert refused.status_code == 422 and NUMBER not in refused.text, refused.text
        assert worker.post(persons, json={"name": NAME, "phone": PHONE + "9"}).status_code == 422
        ok(worker.post(f"{needs}/persons/{person_id}/status", json={"status": "active"}))
        visit = {"visited_on": "2026-02-01", "social_worker": "sw-privacy", "tier": 1}
        visit["findings"] = f"{NAME}独居, 电话{PHONE}, 住{ADDRESS}"
        again = {"Idempotency-Key": "privacy-visit"}
        ok(worker.post(f"{needs}/persons/{person_id}/visits", json=visit, headers=again), 201)
        full = ok(worker.get(f"{needs}/persons/{person_id}", params={"purpose": "home_visit"}))
        assert full["resident_id"] == NUMBER, "the unmasked read itself works"

        need = {"household_id": household_id, "person_id": person_id}
        need |= {"category": "elderly_care.meals", "description": f"{NAME}需要助餐 {PHONE}"}
        need_id = ok(worker.post(f"{needs}/needs", json=need), 201)["id"]
        deadline = time.monotonic() + 20
        while True:
            ranked = ok(worker.post(f"{needs}/needs/{need_id}/matches", json={}))
            if resource_id in [r["resource_id"] for r in ranked["results"]]:
                break
            assert time.monotonic() < deadline, "the resource never reached the matcher"
            time.sleep(0.2)

        note = f"{NAME}, 身份证{NUMBER}, 电话{PHONE}, 住{ADDRESS}"
        referral = {"need_id": need_id, "resource_id": resource_id, "note": note}
        again = {"Idempotency-Key": "privacy-referral"}
        referral_id = ok(worker.post(f"{needs}/referrals", json=referral, headers=again), 201)["id"]
        act = f"{needs}/referrals/{referral_id}"
        state = ok(worker.get(act))["state"]
        if state == "pending_review":
            decision = {"department": "civil_affairs", "decision": "approve"}
            ok(reviewer.post(f"{act}/review", json=decision))
        ok(coordinator.post(f"{act}/accept", json=None))
        ok(coordinator.post(f"{act}/start", json=None))
        outcome = {"result": "met", "satisfaction": 5, "feedback": f"{NAME}很满意, 回电{PHONE}"}
        assert ok(coordinator.post(f"{act}/complete", json=outcome))["state"] == "completed"
        assert ok(worker.get(f"{needs}/needs/{need_id}"))["status"] == "met"


def _outboxes_drained(stack: Stack, timeout: float = 15) -> None:
    """Wait until every outbox has handed its events to JetStream."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(r"^lianjie_outbox_backlog\S* (\S+)$", re.MULTILINE)
    with stack.client("admin") as client:
        while time.monotonic() < deadline:
            backlog = sum(
                float(v)
                for service in ("needs", "resources")
                for v in pattern.findall(client.get(f"{stack.url(service)}/metrics").text)
            )
            if backlog == 0:
                return
            time.sleep(0.2)
    raise AssertionError("the outboxes did not drain")


@pytest.mark.integration
def test_the_referral_loop_leaves_no_personal_data_in_events_logs_or_metrics(
    stack: Stack,
) -> None:
    with NatsCapture(stack.nats_url) as capture:
        _run_the_loop(stack)
        _outboxes_drained(stack)
        time.sleep(0.5)  # the last events' consumers and their replies
    stored = asyncio.run(_stored_messages(stack.nats_url))
    with stack.client("admin") as client:
        metrics = [_named(client.get(f"{stack.url(s)}/metrics").text) for s in SERVICES]
    lines = [f"{name} | {line}" for name, line in stack.logs.lines]  # type: ignore[attr-defined]

    assert len(capture.messages) > 10 and len(stored) > 5 and len(lines) > 10, "capture works"
    assert any("referral" in m for m in capture.messages), "the loop's events were captured"
    assert _leaks(capture.messages) == [], "personal data on NATS"
    assert _leaks(stored) == [], "personal data stored in JetStream"
    assert _leaks(lines) == [], "personal data in a log line"
    assert _leaks(metrics) == [], "personal data in metrics"


def _database_url(stack: Stack, service: str) -> str:
    return stack.config.service_env[service][f"LIANJIE_{service.upper()}_DATABASE_URL"]


def _rows(url: str, table: str | None = None) -> list[str]:
    """Every row of `table` (or of every table) of a service's database, as text."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            tables = [table] if table else sa.inspect(conn).get_table_names()
            return [
                f"{name} {tuple(row)}"
                for name in tables
                for row in conn.execute(sa.text(f'SELECT * FROM "{name}"'))
            ]
    finally:
        engine.dispose()


def _sqlite_bytes(url: str) -> list[str]:
    """The raw bytes of a SQLite database and its WAL, as text (empty for PostgreSQL)."""
    if not url.startswith("sqlite"):
        return []
    path = Path(url.split("///", 1)[1])
    files = [path, path.with_name(path.name + "-wal")]
    return [f.read_bytes().decode("utf-8", "replace") for f in files if f.exists()]


@pytest.mark.integration
def test_personal_data_is_not_at_rest_in_clear_in_the_idempotency_table_or_database_files(
    stack: Stack,
) -> None:
    """Runs after the loop above planted personal data, some of it in POSTs with an
    Idempotency-Key (issue 13, item 3)."""
    if not any("privacy-person" in row for row in _rows(_database_url(stack, "needs"))):
        _run_the_loop(stack)
    for service in ("needs", "resources"):
        url = _database_url(stack, service)
        kept = _rows(url, "idempotency_key")
        assert len(kept) >= 1, f"the {service} idempotency table was read"
        assert _leaks(kept) == [], f"personal data in clear in {service}'s idempotency table"
        in_tables = _leaks(_rows(url))
        tables = sorted({leak.split("]: ", 1)[1].split(" ", 1)[0] for leak in in_tables})
        assert in_tables == [], f"personal data in clear in {service}'s tables {tables}"
        assert _leaks(_sqlite_bytes(url)) == [], f"personal data in {service}'s database file"


@pytest.mark.integration
def test_the_stack_keeps_its_files_readable_by_their_owner_only(stack: Stack) -> None:
    var_dir = stack.config.var_dir
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((var_dir / "nats").stat().st_mode) == 0o700
    for key_file in [pii_key_file(var_dir), stack.private_key, stack.public_key]:
        if key_file.exists():
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file
    for service in ("needs", "resources"):
        url = _database_url(stack, service)
        if url.startswith("sqlite"):
            for path in Path(url.split("///", 1)[1]).parent.glob("*.db*"):
                assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    stored = [p for p in (var_dir / "nats").rglob("*") if p.is_file()]
    assert stored and all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in stored)
