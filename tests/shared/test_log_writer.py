"""The JSON log lines are written by a thread of their own (shared/logs.py): a caller never
waits on stderr, a full queue drops and counts, and nothing logged before exit is lost."""

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared import logs

LINE_FIELDS = {"time", "service", "level", "logger", "message", "request_id", "trace_id"}


class Stream:
    """A stderr that records what is written and by which thread, and can be held stuck."""

    def __init__(self) -> None:
        self.text = ""
        self.writers: set[str] = set()
        self.open = threading.Event()
        self.open.set()

    def write(self, text: str) -> int:
        self.open.wait()
        self.writers.add(threading.current_thread().name)
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stream]:
    """A `Stream` for logging's lines; the root logger restored after. The stream is put in
    place, and logging configured to write to it, by `written_to` in the test itself: pytest
    sets its own sys.stderr again between a fixture and the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = Stream()
    yield out
    out.open.set()
    logs.flush()
    root.handlers[:], root.level = handlers, level


def written_to(stream: Stream, monkeypatch: pytest.MonkeyPatch) -> Stream:
    monkeypatch.setattr(sys, "stderr", stream)
    logs.configure("matcher", "info")  # the writer keeps the stderr of this moment
    return stream


def test_lines_keep_their_fields_and_are_written_by_the_writer_thread(
    stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    written_to(stream, monkeypatch)
    with logs.request_scope("abc-123"):
        logging.getLogger("shared.messaging").info(
            "answered %s", "lianjie.x.v1", extra={"status": 200, "duration_ms": 0.6}
        )
    logs.flush()
    (record,) = stream.records()
    assert set(record) == LINE_FIELDS | {"status", "duration_ms"}
    assert record["service"] == "matcher" and record["level"] == "INFO"
    assert record["logger"] == "shared.messaging" and record["message"] == "answered lianjie.x.v1"
    assert record["request_id"] == "abc-123", "the caller's request, not the writer's"
    assert (record["status"], record["duration_ms"]) == (200, 0.6)
    assert stream.writers == {"lianjie-log-writer"}


def test_a_caller_does_not_wait_for_a_stuck_stderr(
    stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    written_to(stream, monkeypatch).open.clear()  # nobody reads stderr
    log = logging.getLogger("test.stuck")
    took: list[float] = []

    def caller() -> None:
        started = time.perf_counter()
        for n in range(200):
            log.info("line %d", n)
        took.append(time.perf_counter() - started)

    thread = threading.Thread(target=caller, daemon=True)
    thread.start()
    thread.join(5.0)
    assert took and took[0] < 1.0, "the caller waited for stderr"
    stream.open.set()
    logs.flush()
    assert [r["message"] for r in stream.records()] == [f"line {n}" for n in range(200)]


def test_a_full_queue_drops_records_and_says_how_many(
    stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "QUEUE_MOST", 10)
    monkeypatch.setattr(logs, "WRITE_EVERY_S", 0.0)
    written_to(stream, monkeypatch).open.clear()
    log = logging.getLogger("test.full")
    log.info("first")  # the writer takes it and is then stuck writing it
    time.sleep(0.2)
    for n in range(25):
        log.info("more %d", n)
    stream.open.set()
    logs.flush()
    messages = [r["message"] for r in stream.records()]
    assert messages[0] == "first"
    assert messages[1] == "15 log records dropped: the queue was full (stderr not read)"
    assert messages[2:] == [f"more {n}" for n in range(10)]


def test_a_record_logged_after_the_writer_stopped_is_written_at_once(
    stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    written_to(stream, monkeypatch)
    logs.flush()
    logging.getLogger("test.late").warning("late")
    assert [r["message"] for r in stream.records()] == ["late"]


def test_an_exiting_process_writes_every_line_it_logged() -> None:
    script = (
        "import logging\n"
        "from shared import logs\n"
        "logs.configure('matcher', 'info')\n"
        "for n in range(500):\n"
        "    logging.getLogger('test.exit').info('line %d', n)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    messages = [json.loads(line)["message"] for line in done.stderr.splitlines()]
    assert messages == [f"line {n}" for n in range(500)]
