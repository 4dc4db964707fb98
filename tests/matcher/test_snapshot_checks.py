"""What `snapshot.decode` checks besides the bytes' SHA-256, taken on a thread of its own while
the columns are built: a body that does not fit is refused whether its digest matches or not,
and when it does not match, that is the reason given."""

import hashlib
import json
import struct

import numpy as np
import pytest

from services.matcher import snapshot
from services.matcher.columns import ROW
from tests.matcher.factories import index_of
from tests.matcher.test_snapshot import MARK, resources


def encoded() -> bytes:
    return snapshot.encode(snapshot.capture(index_of(*resources(20)), MARK))


def sealed(data: bytes | bytearray) -> bytes:
    """`data` with its closing digest taken again: a snapshot as its writer vouches for it."""
    body = bytes(data[: -snapshot._DIGEST])
    return body + hashlib.sha256(body).digest()


def sections(data: bytes) -> dict[str, slice]:
    """Where each section lies in `data`."""
    (length,) = struct.unpack_from("<I", data, len(snapshot.MAGIC))
    start = len(snapshot.MAGIC) + 4 + length
    header = json.loads(data[len(snapshot.MAGIC) + 4 : start])
    found = {}
    for name, size in header["sections"]:
        found[name] = slice(start, start + size)
        start += size
    return found


def test_a_sealed_snapshot_that_is_not_spoiled_is_read_back() -> None:
    data = encoded()
    assert sealed(data) == data
    assert len(snapshot.decode(bytearray(data)).columns) == 20


@pytest.mark.parametrize("field", ["categories", "adcodes", "groups", "description", "unit"])
@pytest.mark.parametrize("beyond", [False, True], ids=["negative", "past the table"])
def test_a_record_referring_to_no_value_is_refused_under_a_matching_digest(
    field: str, beyond: bool
) -> None:
    data = bytearray(encoded())
    tables = json.loads(bytes(data[sections(bytes(data))["tables"]]))
    table = {"description": "descriptions", "unit": "units"}.get(field, field)
    rows = np.frombuffer(memoryview(data)[sections(bytes(data))["rows"]], dtype=ROW)
    rows[field][7] = len(tables[table]) if beyond else -1
    with pytest.raises(snapshot.SnapshotRefused, match="unreadable: ValueError"):
        snapshot.decode(sealed(data))
    with pytest.raises(snapshot.SnapshotRefused, match="checksum does not match"):
        snapshot.decode(data)  # the same spoiled record, not sealed again


def test_ids_that_are_not_json_are_refused_under_a_matching_digest() -> None:
    data = bytearray(encoded())
    ids = sections(bytes(data))["ids"]
    data[ids.start] = ord("x")
    with pytest.raises(snapshot.SnapshotRefused, match="unreadable: DecodeError"):
        snapshot.decode(sealed(data))


@pytest.mark.parametrize("cut", [1, 1000, snapshot._DIGEST + 1])
def test_a_truncated_snapshot_is_refused_for_its_checksum(cut: int) -> None:
    data = encoded()
    with pytest.raises(snapshot.SnapshotRefused, match="checksum does not match"):
        snapshot.decode(data[:-cut])


def test_a_snapshot_whose_sections_outgrow_it_is_refused_under_a_matching_digest() -> None:
    data = encoded()
    with pytest.raises(snapshot.SnapshotRefused, match="truncated"):
        snapshot.decode(sealed(data[: sections(data)["tables"].stop - 1] + bytes(32)))


@pytest.mark.parametrize("section", ["rows", "names", "tables"])
def test_a_body_that_reads_well_but_differs_from_its_digest_is_refused(section: str) -> None:
    """The columns are built before the digest is known: built, they are still thrown away."""
    data = bytearray(encoded())
    where = sections(bytes(data))[section]
    at = where.start + (bytes(data[where]).index(b"elderly") if section == "tables" else 0) + 1
    data[at] ^= 0x20 if section == "tables" else 0x01  # a letter's case, a bit of a number
    with pytest.raises(snapshot.SnapshotRefused, match="checksum does not match"):
        snapshot.decode(data)
    restored = snapshot.decode(sealed(data)).columns  # sealed again it reads well
    assert len(restored) == 20
