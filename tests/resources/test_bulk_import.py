"""Imports register plain new rows in bulk (a chunk's duplicates looked up at once, one INSERT
per table), and every row's outcome is the one importing the file line by line gives: created,
updated, flagged as a duplicate of the same resource (in the library or above it in the file),
or rejected with the same fields and rules; and every created resource has its event."""

import json
import random
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from services.resources import importing, service
from services.resources.models import OutboxEvent, Resource
from services.resources.schemas import ResourceCreate
from shared.contracts.resources import resource_subject
from shared.db import transaction
from shared.errors import ValidationFailed
from tests.conftest import commit_synchronously
from tests.resources.test_duplicate_index import CENTRE, look_alike
from tests.support.factories import resource_body

KEPT_ID = "0b6a3c5e-1f7d-4f5e-9d43-2a8d7b1e0d01"
Outcome = tuple[str, str | None, frozenset[tuple[str, str]]]


def row(ref: int, *, resource_id: str | None = None, active: bool = True, **body: Any) -> Any:
    return importing.ImportRow(
        ref=f"line {ref}", resource_id=resource_id, active=active, data=resource_body(**body)
    )


def near(dlat: float, dlon: float) -> dict[str, float]:
    return {"lat": CENTRE[0] + dlat, "lon": CENTRE[1] + dlon}


def library(sessions: sessionmaker[Session]) -> None:
    """Two resources registered before the import: one it re-imports by id, one with a phone."""
    with transaction(sessions) as session:
        for resource_id, body in (
            (KEPT_ID, resource_body(name="红星村助餐点", location=near(0, 0))),
            (None, resource_body(name="阳春镇志愿服务队", contact_phone="138-0000-0001")),
        ):
            data = ResourceCreate.model_validate(body)
            service.create(session=session, data=data, resource_id=resource_id)


def one_by_one(sessions: sessionmaker[Session], rows: list[Any]) -> list[Outcome]:
    """The reference: each row through `import_row` in its own savepoint, in the file's order
    (what imports did before the bulk path), rolled back afterwards."""
    outcomes = []
    with sessions() as session:
        session.begin()
        for item in rows:
            try:
                with session.begin_nested():
                    done = importing.import_row(session=session, row=item)
                outcomes.append((done.status.value, done.duplicate_of, done.resource_id))
            except ValidationFailed as exc:
                refused = frozenset((e.field, e.rule) for e in exc.errors)
                outcomes.append(("rejected", None, refused))  # type: ignore[arg-type]
        session.rollback()
    return _comparable(rows, outcomes)


def in_bulk(sessions: sessionmaker[Session], rows: list[Any], chunk_rows: int) -> list[Outcome]:
    report = importing.import_rows(sessions=sessions, rows=rows, chunk_rows=chunk_rows)
    assert [r.ref for r in report.rows] == [r.ref for r in rows]
    outcomes = [
        (r.status.value, r.duplicate_of, r.resource_id)
        if r.status.value != "rejected"
        else ("rejected", None, frozenset((e.field, e.rule) for e in r.errors))
        for r in report.rows
    ]
    return _comparable(rows, outcomes)  # type: ignore[arg-type]


def _comparable(rows: list[Any], outcomes: list[tuple[str, Any, Any]]) -> list[Outcome]:
    """Outcomes with the twin named by the line that created it (ids are new in every run)
    or, stored before, by its id; and the errors of a rejected row."""
    created = ("accepted", "flagged")
    line_of = {o[2]: r.ref for r, o in zip(rows, outcomes, strict=True) if o[0] in created}
    return [
        (status, line_of.get(twin, twin), errors if status == "rejected" else frozenset())
        for status, twin, errors in outcomes
    ]


def test_a_mixed_file_gives_every_row_the_outcome_line_by_line_import_gives(
    sessions: sessionmaker[Session],
) -> None:
    library(sessions)
    rows = [
        row(2, name="江安爱心超市", location=near(0.02, 0)),  # new
        row(3, name="红星村 助餐点", location=near(0.001, 0)),  # like a stored one
        row(4, name="江安爱心超市。", location=near(0.021, 0)),  # like line 2
        row(5, name="坏行", capacity={"total": -1, "unit": "persons"}),  # invalid
        row(6, resource_id=KEPT_ID, name="红星村助餐点", location=near(0, 0)),  # unchanged
        row(7, name="别的名字", contact_phone="13800000001", location=near(0.05, 0)),  # phone
        row(8, name="第一个电话", contact_phone="139 0000 0002", location=near(0.06, 0)),
        row(9, name="第二个电话", contact_phone="13900000002", location=near(0.07, 0)),  # line 8
        row(10, name="停用的点", active=False, location=near(0.03, 0)),  # its own way
        row(11, name="停用的点", location=near(0.03, 0)),  # an inactive one is no twin
        row(12, name="江安爱心超市", location=near(0.0205, 0)),  # like line 2, across the above
        row(13, name="红星村助餐点", categories=["no.such"], location=near(0, 0)),  # invalid
        row(14, name="停用的点", location=near(0.0301, 0)),  # like line 11
    ]
    expected = one_by_one(sessions, rows)
    assert [o[:2] for o in expected] == [
        ("accepted", None),
        ("flagged", KEPT_ID),
        ("flagged", "line 2"),
        ("rejected", None),
        ("updated", None),
        ("flagged", expected[5][1]),
        ("accepted", None),
        ("flagged", "line 8"),
        ("accepted", None),
        ("accepted", None),
        ("flagged", "line 2"),
        ("rejected", None),
        ("flagged", "line 11"),
    ]
    assert expected[5][1] not in (None, KEPT_ID), "the stored resource with that phone"
    for chunk_rows in (1000, 4):  # one chunk, and chunks that split look-alikes apart
        with transaction(sessions) as session:  # the library as before each run
            stale = select(Resource).where(
                Resource.name != "阳春镇志愿服务队", Resource.id != KEPT_ID
            )
            for resource in session.scalars(stale):
                session.delete(resource)
        assert in_bulk(sessions, rows, chunk_rows) == expected, chunk_rows


def test_crowded_look_alikes_are_flagged_as_line_by_line_import_flags_them(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(7)
    names: list[str] = []
    rows = []
    for ref in range(300):
        names.append(look_alike(rng, names))
        place = near(rng.uniform(-0.004, 0.004), rng.uniform(-0.006, 0.006))
        phone = f"1380000{rng.randrange(40):04d}" if rng.random() < 0.2 else None
        rows.append(row(ref, name=names[-1], location=place, contact_phone=phone))
    with transaction(sessions) as session:  # a library of look-alikes already there
        for body in rows[:100]:
            service.create(session=session, data=ResourceCreate.model_validate(body.data))
    expected = one_by_one(sessions, rows[100:])
    flagged = sum(status == "flagged" for status, _, _ in expected)
    assert 40 < flagged < 190, "the names must give both twins and strangers"
    assert in_bulk(sessions, rows[100:], chunk_rows=64) == expected


def test_every_resource_an_import_creates_is_announced_once(
    sessions: sessionmaker[Session],
) -> None:
    rows = [row(n, name=f"志愿者{n}号", location=near(n * 0.01, 0)) for n in range(2, 40)]
    rows.append(row(40, name="坏行", kind="no_such_kind"))
    report = importing.import_rows(sessions=sessions, rows=rows, chunk_rows=16)
    created = {str(r.resource_id) for r in report.rows if r.status.value == "accepted"}
    assert len(created) == 38 and report.rejected == 1
    with sessions() as session:
        events = list(session.scalars(select(OutboxEvent)))
    assert sorted(e.aggregate_id for e in events) == sorted(created)
    for event in events:
        assert event.subject == resource_subject(event.aggregate_id)
        payload = json.loads(event.payload)
        assert (payload["resource_id"], payload["version"]) == (event.aggregate_id, 1)
        assert payload["active"] is True and "contact_phone" not in payload


def test_a_resource_imported_in_bulk_is_stored_and_announced_as_one_created_alone(
    sessions: sessionmaker[Session],
) -> None:
    body = resource_body(
        name="阳春镇 志愿服务队",
        contact_name="王芳",
        contact_phone="138-0000-0009",
        adcodes=["511523"],
        hours=[{"day": "mon", "opens": "08:00", "closes": "17:30"}],
        available_from="2026-12-01",
    )
    with transaction(sessions) as session:
        alone = service.create(session=session, data=ResourceCreate.model_validate(body)).id
    report = importing.import_rows(sessions=sessions, rows=[row(2, **body)])
    (outcome,) = report.rows
    assert (outcome.status.value, outcome.duplicate_of) == ("flagged", alone)
    varying = {"id", "created_at", "updated_at", "period_started_at", "duplicate_of"}
    columns = [c.key for c in Resource.__table__.columns if c.key not in varying]
    with sessions() as session:
        stored = {r.id: r for r in session.scalars(select(Resource))}
        # Stored alike, as SQL sees them too: a JSON column left empty is NULL either way.
        nulls = {
            resource_id: tuple(flags)
            for resource_id, *flags in session.execute(
                select(
                    Resource.id,
                    Resource.draft.is_(None),
                    Resource.hsds_source.is_(None),
                    Resource.capacity_flagged_at.is_(None),
                    Resource.contact_phone == stored[alone].contact_phone,  # encrypted anew
                )
            )
        }
        payloads = {
            e.aggregate_id: json.loads(e.payload) for e in session.scalars(select(OutboxEvent))
        }
    bulk = stored[str(outcome.resource_id)]
    assert {c: getattr(bulk, c) for c in columns} == {c: getattr(stored[alone], c) for c in columns}
    assert bulk.contact_phone == "13800000009" and bulk.contact_name == "王芳"
    assert nulls[bulk.id] == (*nulls[alone][:3], False)
    assert bulk.period_started_at == stored[alone].period_started_at
    event_varying = {"resource_id", "updated_at"}
    assert {k: v for k, v in payloads[bulk.id].items() if k not in event_varying} == {
        k: v for k, v in payloads[alone].items() if k not in event_varying
    }


def test_a_large_import_leaves_the_table_vacuumed_for_the_next_look_up(
    sessions: sessionmaker[Session], monkeypatch: Any
) -> None:
    monkeypatch.setattr(importing, "VACUUM_AFTER_ROWS", 3)
    commit_synchronously(sessions.kw["bind"])
    rows = [row(n, name=f"志愿者{n}号", location=near(n * 0.01, 0)) for n in range(2, 6)]
    report = importing.import_rows(sessions=sessions, rows=rows)
    assert report.accepted == 4
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return  # SQLite: nothing to vacuum for
        visible, pages = session.execute(
            text("SELECT relallvisible, relpages FROM pg_class WHERE relname = 'resource'")
        ).one()
    assert visible == pages > 0, "every page of the table marked all-visible"
