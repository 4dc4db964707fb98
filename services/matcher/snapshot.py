"""Snapshots of the index's columns in a JetStream object store, so a restarted replica loads
the latest one and replays only the resources stream after the sequence it covers.

Why: replaying a million messages over NATS costs tens of seconds (nats-py's per-message cost),
where reading one object of ~200 MB and taking its arrays back costs a few seconds.

What a snapshot holds is what the stream already carries, column by column: the records, the
resource ids, the names (organisations' names, as published on the stream), and the shared
tables (category, division and group lists, descriptions, units). No text model and no shards:
those are rebuilt from the columns when the replica is caught up, as after a full replay.

Format 2: `MAGIC`, the header's length (4 bytes, little-endian), the header (JSON: format
version, the stream, its creation time and the sequence covered, the record layout and the
sections' lengths), the body (the sections in order), then the SHA-256 of everything before
it (32 bytes). One hash over the whole object, read once: format 1 hashed the body on top
of the object store's digest of the same bytes (two passes over ~160 MB), and left the
header to that digest alone. Any doubt on reading (another format, format 1 included,
another record layout, another stream, a sequence the stream has not reached, a checksum or
a part that does not fit) refuses the snapshot: the replica then replays the whole stream,
and never serves an index it cannot vouch for.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from nats.js import JetStreamContext
from nats.js.api import ObjectInfo, ObjectMeta, ObjectMetaOptions
from nats.js.errors import NotFoundError

from services.matcher.columns import DAY_MAX, KINDS, RADIUS_CLASSES_KM, ROW, Columns, Strings
from services.matcher.index import ResourceIndex
from shared.contracts.streams import (
    MATCHER_SNAPSHOTS_BUCKET,
    MATCHER_SNAPSHOTS_STREAM,
    RESOURCES_STREAM,
)

log = logging.getLogger(__name__)

FORMAT = 2
"""Bump when what a snapshot holds, or how, changes: a replica refuses any other."""
_DIGEST = 32  # the SHA-256 closing the object
MAGIC = b"LJMXSNAP"
OBJECT = "index"
_SECTIONS = ("rows", "ids", "names", "name_starts", "name_lengths", "tables")
_CHUNK = 512 * 1024  # below nats-server's default max payload (1 MB), a quarter of the puts
_CHUNK_WAIT_S = 10.0  # a chunk not delivered within this: the read fails (full replay)


class SnapshotRefused(ValueError):
    """The snapshot is not one this replica may serve from (the reason says why)."""


@dataclass(frozen=True)
class StreamMark:
    """Which stream a snapshot covers and how far: a stream deleted and created again
    (sequences from 1 again) has another creation time."""

    stream: str
    created: str
    sequence: int


@dataclass(frozen=True)
class Snapshot:
    mark: StreamMark
    columns: Columns


@dataclass(frozen=True)
class Captured:
    """The index's columns copied at one point of the stream (cheap, on the event loop); the
    encoding and the checksum are done apart from it."""

    mark: StreamMark
    sections: dict[str, Any]


def capture(index: ResourceIndex, mark: StreamMark) -> Captured:
    """Copy what a snapshot of `index` holds, as it is now (after `mark.sequence`)."""
    columns = index.columns
    names, starts, lengths = columns.names.dump()
    return Captured(
        mark,
        {
            "rows": columns.in_use().tobytes(),
            "ids": list(columns.ids),
            "names": names,
            "name_starts": starts,
            "name_lengths": lengths,
            "tables": columns.tables(),
        },
    )


def encode(captured: Captured) -> bytes:
    """The snapshot's bytes (slow at a million: run it off the event loop)."""
    parts = dict(captured.sections)
    parts["names"], parts["name_starts"], parts["name_lengths"] = Strings.compacted(
        parts["names"], parts["name_starts"], parts["name_lengths"]
    )
    parts["ids"] = msgspec.json.encode(parts["ids"])
    parts["tables"] = msgspec.json.encode(parts["tables"])
    body = [parts[name] for name in _SECTIONS]
    header = json.dumps(
        {
            "format": FORMAT,
            "stream": captured.mark.stream,
            "stream_created": captured.mark.created,
            "sequence": captured.mark.sequence,
            "row_layout": _layout(),
            "sections": [[name, len(part)] for name, part in zip(_SECTIONS, body, strict=True)],
        }
    ).encode()
    head = b"".join([MAGIC, struct.pack("<I", len(header)), header])
    digest = hashlib.sha256(head)
    for part in body:
        digest.update(part)
    return b"".join([head, *body, digest.digest()])  # one copy of the parts


def decode(data: bytes | bytearray) -> Snapshot:
    """The snapshot in `data`; `SnapshotRefused` if anything about it is in doubt."""
    try:
        return _decode(memoryview(data))
    except SnapshotRefused:
        raise
    except (ValueError, KeyError, TypeError, struct.error, msgspec.DecodeError) as exc:
        raise SnapshotRefused(f"unreadable: {type(exc).__name__}") from exc


def _decode(data: memoryview) -> Snapshot:
    if bytes(data[: len(MAGIC)]) != MAGIC:
        raise SnapshotRefused("not a matcher snapshot")
    (length,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4 + length
    header = json.loads(bytes(data[len(MAGIC) + 4 : start]))
    if header.get("format") != FORMAT:
        raise SnapshotRefused(f"format {header.get('format')!r}, this replica reads {FORMAT}")
    if header["row_layout"] != _layout():
        raise SnapshotRefused("another record layout")
    if [name for name, _ in header["sections"]] != list(_SECTIONS):
        raise SnapshotRefused("other sections")
    end = len(data) - _DIGEST
    if end < start:
        raise SnapshotRefused("checksum does not match")
    # The SHA-256 is taken on a thread of its own while the columns are built from the same
    # bytes (hashlib lets go of the GIL over a large buffer): 0.13-0.16 s of a 0.5 s decode
    # at a million, off its path. Nothing built is handed out before the digest matches, and a
    # body that cannot be read is reported as the checksum's failure when that is the cause.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-sha256") as pool:
        digest = pool.submit(lambda: hashlib.sha256(data[:end]).digest())
        try:
            columns = _columns(data[start:end], header["sections"])
        except Exception:
            if digest.result() != data[end:]:
                raise SnapshotRefused("checksum does not match") from None
            raise
        if digest.result() != data[end:]:
            raise SnapshotRefused("checksum does not match")
    mark = StreamMark(header["stream"], header["stream_created"], int(header["sequence"]))
    return Snapshot(mark, columns)


def _columns(body: memoryview, sections: list[list[Any]]) -> Columns:
    """The columns in a snapshot's `body`, cut into `sections` (name, length) in order."""
    parts: dict[str, memoryview] = {}
    start = 0
    for name, size in sections:
        parts[name] = body[start : start + size]
        if len(parts[name]) != size:
            raise SnapshotRefused("truncated")
        start += size
    if start != len(body):
        raise SnapshotRefused("sections and length do not match")
    if len(parts["rows"]) % ROW.itemsize:
        raise SnapshotRefused("records of another size")
    return Columns.restored(
        rows=np.frombuffer(parts["rows"], dtype=ROW),
        ids=msgspec.json.decode(parts["ids"], type=list[str]),
        names=Strings.load(
            bytes(parts["names"]), bytes(parts["name_starts"]), bytes(parts["name_lengths"])
        ),
        tables=msgspec.json.decode(parts["tables"], type=dict[str, list[Any]]),
    )


def _layout() -> list[Any]:
    """The record's fields (name, type, offset) and size, and what its codes stand for (kinds,
    radius classes, the open-ended day): a snapshot of another layout is refused, not misread."""
    fields: Mapping[str, tuple[Any, ...]] = ROW.fields or {}
    codes = [list(KINDS), list(RADIUS_CLASSES_KM), DAY_MAX]
    return [[name, spec[0].str, spec[1]] for name, spec in fields.items()] + [ROW.itemsize, codes]


def check_covers(snapshot: StreamMark, stream: StreamMark) -> None:
    """Refuse a snapshot of another stream, or of a point the stream has not reached."""
    if snapshot.stream != stream.stream or snapshot.created != stream.created:
        raise SnapshotRefused("a snapshot of another stream (or of one created before it)")
    if snapshot.sequence > stream.sequence:
        raise SnapshotRefused("a snapshot beyond the stream's last message")


async def load(js: JetStreamContext) -> Snapshot | None:
    """The latest snapshot in the bucket; None if there is none; `SnapshotRefused` (or a NATS
    error) if it cannot be read back."""
    store = await js.object_store(MATCHER_SNAPSHOTS_BUCKET)
    try:
        info = await store.get_info(OBJECT)
    except NotFoundError:
        return None
    started = time.perf_counter()
    data = await _read(js, info)
    read = time.perf_counter()
    found = await asyncio.to_thread(decode, data)
    log.info(
        "index snapshot read: %.1f MB in %.2f s, decoded in %.2f s",
        len(data) / 1e6,
        read - started,
        time.perf_counter() - read,
    )
    return found


async def _read(js: JetStreamContext, info: ObjectInfo) -> bytearray:
    """The object's chunks, as nats-py's `get` reads them, but from the stream named (finding
    it would need `$JS.API.STREAM.NAMES`, which the matcher's NATS user may not call), without
    joining them by `bytes +=` (quadratic), and not hashed here: the snapshot's own SHA-256
    covers every byte of it (`decode`), one pass instead of two."""
    if not info.nuid:
        raise SnapshotRefused("no chunks named")
    data = bytearray(info.size or 0)  # filled in place: one copy of the object in memory
    filled = 0
    if info.size:
        sub = await js.subscribe(
            f"$O.{MATCHER_SNAPSHOTS_BUCKET}.C.{info.nuid}",
            stream=MATCHER_SNAPSHOTS_STREAM.name,
            ordered_consumer=True,
        )
        try:
            while True:
                msg = await sub.next_msg(timeout=_CHUNK_WAIT_S)
                if filled + len(msg.data) > len(data):
                    raise SnapshotRefused("more chunks than the object's size")
                data[filled : filled + len(msg.data)] = msg.data
                filled += len(msg.data)
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
    if filled != len(data):
        raise SnapshotRefused("fewer chunks than the object's size")
    return data


async def stored_sequence(js: JetStreamContext, mark: StreamMark) -> int:
    """The sequence of `mark`'s stream that the stored snapshot covers (0: none, unreadable
    meta, another format, or another stream: one recreated since, say, whose old sequences
    would otherwise keep this replica from ever writing one)."""
    store = await js.object_store(MATCHER_SNAPSHOTS_BUCKET)
    try:
        info = await store.get_info(OBJECT)
        said = json.loads(info.description or "{}")
        same = (said.get("format"), said.get("stream"), said.get("stream_created")) == (
            FORMAT,
            mark.stream,
            mark.created,
        )
        return int(said.get("sequence", 0)) if same else 0
    except (NotFoundError, ValueError, AttributeError):
        return 0


async def save(js: JetStreamContext, captured: Captured) -> int:
    """Write `captured` as the latest snapshot; its size in bytes."""
    data = await asyncio.to_thread(encode, captured)
    store = await js.object_store(MATCHER_SNAPSHOTS_BUCKET)
    mark = captured.mark
    meta = ObjectMeta(
        name=OBJECT,
        description=json.dumps(
            {
                "format": FORMAT,
                "stream": mark.stream,
                "stream_created": mark.created,
                "sequence": mark.sequence,
            }
        ),
        options=ObjectMetaOptions(max_chunk_size=_CHUNK),
    )
    info = await store.put(OBJECT, data, meta=meta)
    await _purge_left_behind(js, keep=info.nuid)
    return len(data)


async def _purge_left_behind(js: JetStreamContext, *, keep: str | None) -> None:
    """Purge the chunks no snapshot names: nats-py's `put` purges those of the object it
    replaces, but not those of a put cut short (a replica stopped mid-write) or of a replica
    that replaced the same object at the same moment. They would grow the bucket for ever and
    keep old names in it."""
    chunks = f"$O.{MATCHER_SNAPSHOTS_BUCKET}.C."
    info = await js.stream_info(MATCHER_SNAPSHOTS_STREAM.name, subjects_filter=f"{chunks}>")
    for subject in (info.state.subjects or {}) if info.state else {}:
        if subject != f"{chunks}{keep}":
            await js.purge_stream(MATCHER_SNAPSHOTS_STREAM.name, subject=subject)


def resources_mark(created: object, sequence: int) -> StreamMark:
    """The resources stream's mark at `sequence` (`created`: its stream info's)."""
    return StreamMark(RESOURCES_STREAM.name, str(created), sequence)
