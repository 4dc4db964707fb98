"""An append-only, hash-chained audit trail: each entry carries the hash of the one before,
so a history rewritten in the database no longer verifies.

Appends to one chain must not race: callers hold the lock of the need the chain belongs to
(see `transitions.lock`), and `(chain, seq)` is unique as a last line of defence.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.needs.referrals.models import AuditEntry
from shared.actor import Actor

GENESIS = "0" * 64


def referral_chain(referral_id: str) -> str:
    return f"referral:{referral_id}"


def need_chain(need_id: str) -> str:
    return f"need:{need_id}"


def _digest(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(
    *,
    session: Session,
    chain: str,
    action: str,
    actor: Actor,
    at: datetime,
    data: dict[str, Any],
    head: "Head | None" = None,
) -> AuditEntry:
    """Add one entry at the end of `chain`, linked to the entry before it: the `head` the
    chain's row keeps (read under its lock), or the chain's last entry read from the table for
    a row written before heads were kept."""
    if head is None:
        head = _last(session, chain)
    seq = 1 if head is None else head.length + 1
    prev_hash = GENESIS if head is None else head.hash
    body = json.dumps(
        {
            "chain": chain,
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor.id,
            "role": actor.role,
            "action": action,
            "data": data,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    entry = AuditEntry(
        chain=chain, seq=seq, body=body, prev_hash=prev_hash, hash=_digest(prev_hash, body)
    )
    session.add(entry)
    session.flush()
    return entry


def _last(session: Session, chain: str) -> "Head | None":
    """The head of `chain` as its entries in the table have it; None for an empty chain."""
    last = session.scalar(
        select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq.desc()).limit(1)
    )
    return None if last is None else Head(hash=last.hash, length=last.seq)


def entries(*, session: Session, chain: str) -> list[AuditEntry]:
    """The chain's entries, oldest first."""
    query = select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.seq)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Verification:
    intact: bool
    broken_at: int | None


class HeadHolder(Protocol):
    """A row that keeps the head of its audit chain: a referral, a need."""

    audit_head_hash: str | None
    audit_length: int | None


@dataclass(frozen=True)
class Head:
    """Where a chain must end: the hash of its last entry and how many entries it has, kept
    apart from the chain (on the row whose history it is)."""

    hash: str
    length: int


def head_of(record: HeadHolder) -> Head | None:
    """The head a referral or need row keeps; None for one written before heads were kept."""
    if record.audit_head_hash is None or record.audit_length is None:
        return None
    return Head(hash=record.audit_head_hash, length=record.audit_length)


def move_head(record: HeadHolder, entry: AuditEntry) -> None:
    """Keep `entry`, just appended to the record's chain, as the record's head."""
    record.audit_head_hash, record.audit_length = entry.hash, entry.seq


def verify(chain_entries: list[AuditEntry], head: Head | None = None) -> Verification:
    """Recompute every link; the first entry whose hash or link does not hold is reported.
    With a `head`, a chain that stops short of it (or runs past it) is broken where it
    departs from the head."""
    prev_hash = GENESIS
    for position, entry in enumerate(chain_entries, start=1):
        if (
            entry.seq != position
            or entry.prev_hash != prev_hash
            or entry.hash != _digest(prev_hash, entry.body)
        ):
            return Verification(intact=False, broken_at=position)
        prev_hash = entry.hash
    if head is not None:
        length = len(chain_entries)
        if length != head.length:
            return Verification(intact=False, broken_at=min(length, head.length) + 1)
        if length and prev_hash != head.hash:
            return Verification(intact=False, broken_at=length)
    return Verification(intact=True, broken_at=None)
