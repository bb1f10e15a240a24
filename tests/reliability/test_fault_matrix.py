"""The fault matrix: each way the endpoint can misbehave, over real HTTP to the sandbox.

Every case sends a few runs through a real TracerProvider and exporter, with
the sandbox injecting the fault, and checks what the server ended up holding:
transient faults end with every run accepted exactly once; a refused secret
delivers nothing and says so once; a 413 is answered by one smaller resend.
Each case also records a row (runs, delivered, duplicates, attempts, seconds)
that ``benchmarks/fault_matrix.py`` prints for docs/reliability.md.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from infinium_otel.sandbox import Fault, Sandbox

from .support import Pipeline, names_received, trace_attempts

RUNS = 5
OUTPUT_ENV = "INFINIUM_FAULT_MATRIX_OUT"
WRONG_SECRET = "wrong-agent-secret-0f9e8d7c"


@dataclass
class Case:
    """One row of the matrix: a fault, how it is set up, and what must come of it."""

    id: str
    faults: Callable[[], list[Fault]] = list
    delivered: int = RUNS
    extra_attempts: int = 0
    big_runs: bool = False
    outage: float = 0.0
    secret: str | None = None
    min_gap: float = 0.0  # the client must wait at least this long after the fault
    notes: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


def _http_date(seconds_ahead: float) -> str:
    return formatdate(time.time() + seconds_ahead, usegmt=True)


CASES = [
    *(
        Case(f"HTTP {status} x3", lambda s=status: [Fault(status=s, repeat=3)], extra_attempts=3)
        for status in (500, 502, 503, 504)
    ),
    Case(
        "HTTP 429, Retry-After: 1",
        lambda: [Fault(status=429, retry_after="1")],
        extra_attempts=1,
        min_gap=0.9,
    ),
    Case(
        "HTTP 429, Retry-After: HTTP-date (+2 s)",
        lambda: [Fault(status=429, retry_after=_http_date(2))],
        extra_attempts=1,
        min_gap=0.5,  # the date has whole-second precision
    ),
    Case("connection reset x3", lambda: [Fault(drop=True, repeat=3)], extra_attempts=3),
    Case(
        "response slower than the 0.5 s timeout x2",
        lambda: [Fault(delay=1.5, repeat=2)],
        extra_attempts=2,
        notes="the sandbox stores no slow attempt (see test_lost_answer.py)",
    ),
    Case("server down ~1 s, then back", outage=1.0, notes="refused attempts never reach it"),
    Case(
        "HTTP 413 once",
        lambda: [Fault(status=413)],
        extra_attempts=1,
        big_runs=True,
        notes="shrunk and resent once",
    ),
    Case(
        "HTTP 413 twice",
        lambda: [Fault(status=413, repeat=2)],
        delivered=RUNS - 1,
        extra_attempts=1,
        big_runs=True,
        notes="no blind retry: the run is dropped and counted",
    ),
    Case(
        "HTTP 401 (wrong secret)",
        delivered=0,
        secret=WRONG_SECRET,
        notes="never retried; counted; one log line",
    ),
]

ROWS: list[dict[str, Any]] = []


@pytest.fixture(scope="module", autouse=True)
def _write_table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    path = Path(os.environ.get(OUTPUT_ENV) or tmp_path_factory.mktemp("matrix") / "matrix.json")
    path.write_text(json.dumps(ROWS, indent=2), encoding="utf-8")


class _RetryLog(logging.Handler):
    """Counts the client's "retrying" records (attempts the server may never see)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying in" in record.getMessage():
            self.retries += 1


@pytest.fixture
def retry_log() -> Iterator[_RetryLog]:
    logger = logging.getLogger("infinium_otel.client")
    handler = _RetryLog()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _settled_attempts(sandbox: Sandbox, expected: int, wait: float = 5.0) -> int:
    """Trace requests the server saw; a slow answer is recorded only when its delay ends."""
    end = time.monotonic() + wait
    while trace_attempts(sandbox) < expected and time.monotonic() < end:
        time.sleep(0.05)
    return trace_attempts(sandbox)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(
    case: Case,
    sandbox: Sandbox,
    retry_log: _RetryLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="infinium_otel")
    pipeline = Pipeline(sandbox, secret=case.secret or sandbox.agent_secret, **case.settings)
    if case.secret:
        from secret_scan import register_secret

        register_secret(case.secret)
    sandbox.faults.push("trace", *case.faults())
    restart: threading.Timer | None = None
    if case.outage:
        sandbox.stop()
        restart = threading.Timer(case.outage, sandbox.start)
    names = [f"run-{index}" for index in range(RUNS)]
    output = "x" * 60_000 if case.big_runs else "done"
    started = time.monotonic()
    if restart is not None:
        restart.start()
    for name in names:
        pipeline.run(name, output=output)
    flushed = pipeline.exporter.force_flush(30_000)
    seconds = time.monotonic() - started
    if restart is not None:
        restart.join()
    stats = pipeline.exporter.stats()
    pipeline.close()

    received = names_received(sandbox)
    expected_attempts = RUNS + case.extra_attempts
    attempts = _settled_attempts(sandbox, expected_attempts)
    ROWS.append(
        {
            "fault": case.id,
            "runs_sent": RUNS,
            "delivered": sum(1 for name in names if received[name]),
            "duplicates": sum(count - 1 for count in received.values() if count > 1),
            "attempts_seen_by_server": attempts,
            "client_retries": retry_log.retries,
            "seconds": round(seconds, 2),
            "notes": case.notes,
        }
    )

    # Nothing is ever delivered twice, and nothing that should arrive is missing.
    assert all(count == 1 for count in received.values()), received
    assert sum(received.values()) == case.delivered
    assert set(received) <= set(names)
    assert stats["delivery_delivered"] == case.delivered
    assert stats["delivery_failed"] == RUNS - case.delivered
    assert flushed is (case.delivered == RUNS)  # True only when every run was accepted
    if not case.outage:
        assert attempts == expected_attempts
    else:
        assert attempts == RUNS  # refused connections never reach the server
        assert retry_log.retries >= 1  # but the client did try while it was down
    if case.min_gap:
        trace_requests = [r for r in sandbox.requests if r.endpoint == "trace"]
        gap = trace_requests[1].at - trace_requests[0].at
        assert gap >= case.min_gap, gap


def test_413_resend_is_smaller_and_counted(sandbox: Sandbox) -> None:
    pipeline = Pipeline(sandbox)
    sandbox.faults.push("trace", Fault(status=413))
    pipeline.run("big", output="y" * 60_000, tools=30)
    assert pipeline.exporter.force_flush(10_000)
    stats = pipeline.exporter.stats()
    pipeline.close()
    first, second = [r for r in sandbox.requests if r.endpoint == "trace"]
    assert (first.status, second.status) == (413, 201)
    assert second.body_bytes <= first.body_bytes // 2 + 1
    assert stats["delivery_shrunk_after_413"] == 1
    (stored,) = sandbox.traces()
    assert stored.payload["environment"]["custom_tags"]["truncated"] == "true"


def test_401_is_counted_and_logged_once_without_the_secret(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    from secret_scan import register_secret

    register_secret(WRONG_SECRET)
    caplog.set_level(logging.DEBUG, logger="infinium_otel")
    pipeline = Pipeline(sandbox, secret=WRONG_SECRET)
    for index in range(RUNS):
        pipeline.run(f"refused-{index}")
    assert pipeline.exporter.force_flush(10_000) is False
    stats = pipeline.exporter.stats()
    pipeline.close()
    assert sandbox.traces() == []
    assert trace_attempts(sandbox) == RUNS  # one attempt per run: never retried
    assert stats["delivery_failed_auth"] == RUNS
    assert stats["delivery_failed"] == RUNS
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "credentials refused (401)" in message
    assert WRONG_SECRET not in message
    assert WRONG_SECRET not in caplog.text
