"""The server span (made by `logs.RequestIdMiddleware`) with no exporter configured (the
default): a request that carries a caller's trace context still runs in that trace (its log
records name it), and one that carries none runs in no trace, without a span being made for
it."""

import asyncio

from starlette.types import Message, Receive, Scope, Send

from shared import logs, tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()


def _serve(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, list[Message]]:
    """One request through the middleware: the trace id the app saw, and what it sent."""
    seen: list[str | None] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(tracing.current_trace_id())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers}
    asyncio.run(logs.RequestIdMiddleware(app)(scope, receive, send))
    return seen[0], sent


def test_a_callers_trace_is_carried_without_an_exporter() -> None:
    trace_id, sent = _serve([(b"traceparent", PARENT), (b"accept", b"*/*")])
    assert trace_id == TRACE_ID
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


def test_a_request_without_trace_context_runs_in_no_trace() -> None:
    trace_id, sent = _serve([(b"accept", b"*/*")])
    assert trace_id is None
    assert sent[0]["status"] == 204


def test_no_exporter_means_no_recording_provider() -> None:
    assert not tracing.recording()
