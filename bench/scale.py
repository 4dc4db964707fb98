"""Sizes beyond what the demo generator makes in minutes (10 million resources): copies of a
base province, each resource of copy j with its own id and moved by up to ~1 km, so the
province holds j times as many resources in the same places. Streamed as chunks of encoded
stream messages, never held at once (10 million messages are ~6 GB)."""

import math
from collections.abc import Iterator

import msgspec
import numpy as np

from services.matcher.decode import ResourceState

JITTER_DEG = 0.01  # ~1.1 km of latitude
CHUNK = 262_144


def chunks(base: list[bytes], size: int, *, seed: int) -> Iterator[list[bytes]]:
    """`size` messages: the base ones first, then moved copies of them (ids `<id>.<copy>`)."""
    decoder = msgspec.json.Decoder(ResourceState)
    encoder = msgspec.json.Encoder()
    rng = np.random.default_rng(seed)
    made = 0
    for copy in range(math.ceil(size / len(base))):
        for start in range(0, len(base), CHUNK):
            part = base[start : start + min(CHUNK, size - made)]
            if not part:
                return
            if copy:
                part = _moved(part, copy, rng, decoder, encoder)
            made += len(part)
            yield part


def _moved(
    part: list[bytes],
    copy: int,
    rng: np.random.Generator,
    decoder: msgspec.json.Decoder[ResourceState],
    encoder: msgspec.json.Encoder,
) -> list[bytes]:
    moves = rng.uniform(-JITTER_DEG, JITTER_DEG, size=(len(part), 2)).tolist()
    out = []
    for message, (d_lat, d_lon) in zip(part, moves, strict=True):
        state = decoder.decode(message)
        out.append(
            encoder.encode(
                msgspec.structs.replace(
                    state,
                    resource_id=f"{state.resource_id}.{copy}",
                    lat=min(90.0, max(-90.0, state.lat + d_lat)),
                    lon=min(180.0, max(-180.0, state.lon + d_lon)),
                )
            )
        )
    return out
