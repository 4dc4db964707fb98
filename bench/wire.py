"""A load generator's HTTP/1.1: one keep-alive connection per client, speaking only what the
bench's POSTs need (a JSON body out; a status and a Content-Length or chunked body back).

httpx spent about as much CPU per request as the service answering it (its pools, models and
h11, 15.6 ms against 15.05 ms on the shared 2-core machine), so a rate measured with it was as
much the client's as the service's. This client writes one prepared request and reads the reply
with asyncio's streams: a few tens of microseconds a request. Both sides of a comparison (this
checkout and the reference commit) are measured by it in the same run.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit


class WireError(Exception):
    """The connection broke or the reply was not HTTP/1.1 the client can read."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


class KeepAlive:
    """One connection to `base_url` (http://host:port), POSTing JSON with fixed `headers`;
    reconnects after a reply that closes the connection or after a failure."""

    def __init__(self, base_url: str, *, headers: dict[str, str], timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"plain http://host:port only, not {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        fixed = {"Host": f"{self.host}:{self.port}", **headers, "Content-Type": "application/json"}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> "KeepAlive":
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def post(self, path: str, body: bytes) -> Reply:
        """POST `body` (JSON) to `path`: the reply, or WireError (the connection is dropped)."""
        try:
            return await asyncio.wait_for(self._exchange(path, body), self.timeout_s)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.close()
            raise WireError(type(exc).__name__) from exc

    async def _exchange(self, path: str, body: bytes) -> Reply:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        start = b"POST %s HTTP/1.1\r\n" % path.encode()
        writer.write(start + self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status, headers = _head(head)
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            payload = await _chunked(reader)
        else:
            payload = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return Reply(status, payload)


def _head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """The status and the headers (lower-cased names) of a reply's head."""
    lines = head.split(b"\r\n")
    version, status, *_ = lines[0].split(b" ", 2)
    if not version.startswith(b"HTTP/1."):
        raise ValueError("not an HTTP/1.x reply")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status), headers


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent to the bench
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
