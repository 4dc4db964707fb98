"""How uvicorn serves every Lianjie process (`lianjie serve`, `lianjie up`, the tests' stacks):
httptools' HTTP/1.1 parser (llhttp, in C) on uvloop's event loop, where uvicorn alone would
choose h11 (in Python) on asyncio's. The parser was about a sixth of a reservation's CPU in the
service (bench/results/issue21/reserve-http-2026-11-30-round5.md).

httptools refuses more malformed requests than h11 did (a Content-Length beside chunked
Transfer-Encoding, obs-fold, bare LF line ends, an unknown method), but it sets no limit on a
request's head, and it takes an HTTP/1.1 request without a Host header or with two. The
protocol here keeps what h11 refused: a head not complete within `MAX_HEAD_BYTES` (431), and
a Host header missing or repeated (400). Every request uvicorn refuses before the app sees it
is answered as problem+json, naming the rule, and the connection closed, after the answers of
whole requests pipelined before it on the same connection (tests/fuzz/test_hostile_input.py)."""

import json
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from shared.problems import PROBLEM_JSON

MAX_HEAD_BYTES = 64 * 1024
"""Bytes a request's line and headers may take before they are complete: h11's limit was
16 KiB of an incomplete head; a bearer token and the console's forwarded headers take 2–3 KiB."""


@dataclass(frozen=True)
class Refusal:
    """A request refused before the app: its status, rule and what to do, Chinese first."""

    status: int
    rule: str
    detail: str

    def response(self, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        """The whole HTTP/1.1 response, problem+json, closing the connection."""
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "请求有误 Bad request",
                "status": self.status,
                "detail": self.detail,
                "rule": self.rule,
            },
            ensure_ascii=False,
        ).encode()
        head = [STATUS_LINE[self.status]]
        head += [name + b": " + value + b"\r\n" for name, value in default_headers]
        head.append(b"content-type: " + PROBLEM_JSON.encode() + b"\r\n")
        head.append(b"content-length: " + str(len(body)).encode() + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        return b"".join(head) + body


INVALID = Refusal(
    400,
    "invalid_http",
    "请求不符合 HTTP/1.1 (RFC 9112) / the request is not valid HTTP/1.1 (RFC 9112)",
)
HEAD_TOO_LARGE = Refusal(
    431,
    "head_too_large",
    f"请求行和请求头超过 {MAX_HEAD_BYTES} 字节 / "
    f"the request line and headers take more than {MAX_HEAD_BYTES} bytes",
)
HOST = Refusal(
    400,
    "one_host_header",
    "HTTP/1.1 请求须有且只有一个 Host 请求头 / "
    "an HTTP/1.1 request carries exactly one Host header (RFC 9112, section 3.2)",
)


class RefusedRequest(Exception):
    """Raised in a parser callback: httptools stops, uvicorn answers 400 (`send_400_response`)."""


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with h11's limits on the head kept, and its refusals
    answered as problem+json."""

    _head_bytes = 0
    _head_open = True  # the next bytes begin a request's head
    _refusal = INVALID
    _refused: Refusal | None = None  # said once the requests before it are answered

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            return  # the stream could not be parsed: what follows is not read
        super().data_received(data)
        if self._head_open and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        self._head_open, self._head_bytes = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_open = False
        hosts = [value for name, value in self.headers if name == b"host"]
        if len(hosts) > 1 or (not hosts and self.parser.get_http_version() == "1.1"):
            self._refusal = HOST
            raise RefusedRequest
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(self._refusal)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refused is not None and not self._answering():
            self._refuse(self._refused)

    def _answering(self) -> bool:
        """Whether whole requests that came before are still being answered (pipelined): not
        the one being read, whose app already runs from its head on (a refusal in its body
        ends it, as before)."""
        cycle = self.cycle
        owed = cycle is not None and not cycle.more_body and not cycle.response_complete
        return owed or bool(self.pipeline)

    def _refuse(self, refusal: Refusal) -> None:
        """Answer `refusal` and close; after the answers of the valid requests pipelined before
        it, which closing at once would have lost."""
        if self._answering():
            self._refused = refusal
            self.transport.pause_reading()
            return
        self._refused = refusal
        if not self.transport.is_closing():
            self.transport.write(refusal.response(self.server_state.default_headers))
            self.transport.close()


@dataclass(frozen=True)
class Serving:
    """uvicorn's HTTP protocol and event loop for a process."""

    http: str
    loop: str

    def flags(self) -> list[str]:
        """The options of `python -m uvicorn` that choose them."""
        return ["--http", self.http, "--loop", self.loop]


SERVING = Serving(http=f"{__name__}:{HttpProtocol.__name__}", loop="uvloop")
"""How every Lianjie process is served."""
H11 = Serving(http="h11", loop="asyncio")
"""What uvicorn chose before httptools and uvloop were dependencies (the bench's reference)."""
HTTPTOOLS = Serving(http="httptools", loop="uvloop")
"""uvicorn's own httptools protocol: the same parser for a tree without this module."""
