"""Duplicate detection through its index finds exactly what reading every resource and
comparing every name would find: the same earliest twin, or none, for hundreds of look-alike
names crowded into a few hundred metres, on SQLite and PostgreSQL. Also: a migrated library
keeps finding the twins it had before its keys existed."""

import random
from difflib import SequenceMatcher

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from services.resources import duplicates, service
from services.resources.models import Resource
from services.resources.schemas import ResourceCreate
from tests.support.factories import resource_body

SYLLABLES = "江安红星爱心助餐点志愿队服务中心村"
CENTRE = (28.7300, 105.0700)


def look_alike(rng: random.Random, earlier: list[str]) -> str:
    """A new name, or an earlier one with up to two characters inserted, dropped or changed
    (a space or full-width character here and there); short and long ones."""
    if not earlier or rng.random() < 0.4:
        length = rng.choice([2, 3, 4, 5, 8, 10, 11, 12, 19, 20, 21, 30])
        return "".join(rng.choice(SYLLABLES) for _ in range(length))
    name = list(rng.choice(earlier))
    for _ in range(rng.choice([0, 1, 1, 2])):
        at = rng.randrange(len(name) + 1)
        edit = rng.choice(["insert", "drop", "change", "space"])
        if edit == "insert" or not name[at:]:
            name.insert(at, rng.choice(SYLLABLES))
        elif edit == "drop" and len(name) > 1:
            del name[at]
        elif edit == "change":
            name[at] = rng.choice(SYLLABLES)
        else:
            name.insert(at, rng.choice(" （）Ａ"))
    return "".join(name)


def test_the_index_finds_the_twin_a_full_scan_finds(sessions: sessionmaker[Session]) -> None:
    rng = random.Random(21)
    compared = found = 0
    names: list[str] = []
    with sessions() as session, session.begin():
        for _ in range(400):
            name = look_alike(rng, names)
            names.append(name)
            lat = CENTRE[0] + rng.uniform(-0.004, 0.004)
            lon = CENTRE[1] + rng.uniform(-0.006, 0.006)
            expected = duplicates.scan_for_twin(session=session, name=name, lat=lat, lon=lon)
            twin = duplicates.find_duplicate(
                session=session, name=name, lat=lat, lon=lon, phone=None
            )
            assert (twin.id if twin else None) == expected, name
            compared += 1
            found += expected is not None
            body = resource_body(name=name, location={"lat": lat, "lon": lon})
            service.create(session=session, data=ResourceCreate.model_validate(body))
    assert compared == 400
    assert 40 < found < 360, "the names must give both twins and strangers"


def test_resources_registered_before_the_keys_are_found_once_keyed(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        first = service.create(
            session=session, data=ResourceCreate.model_validate(resource_body(name="红星村助餐点"))
        )
        # As the migration found it: no keys yet. Keying it again is what upgrade does.
        session.execute(update(Resource).values(name_key="", name_length=0, cell=0))
        session.expire_all()
        stored = session.get(Resource, first.id)
        assert stored is not None
        duplicates.index_keys(stored)
        session.flush()
        twin = duplicates.find_duplicate(
            session=session, name="红星村 助餐点", lat=stored.lat, lon=stored.lon, phone=None
        )
        assert twin is not None and twin.id == first.id


def test_the_length_band_holds_exactly_the_lengths_that_can_reach_the_ratio() -> None:
    letters = "".join(chr(0x4E00 + i) for i in range(200))  # all different: no junk
    for length in range(0, 80):
        reachable = [
            n
            for n in range(0, 200)
            if SequenceMatcher(None, letters[:length], letters[:n]).ratio() >= duplicates.NAME_RATIO
        ]
        assert duplicates.length_band(length) == (min(reachable), max(reachable)), length
