"""One thread for any number of runs, bounded memory, prompt shutdown, fork safety."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable

import pytest

from infinium_otel.interpretation import (
    InterpretationOutcome,
    InterpretationProcessor,
    InterpretationRequest,
)
from infinium_otel.sandbox import Sandbox
from infinium_otel.sandbox.faults import Fault

from .conftest import Logs, Spans

Make = Callable[..., InterpretationProcessor]
Deliver = Callable[..., InterpretationRequest]


def _ours(threads: set[threading.Thread]) -> set[threading.Thread]:
    """Threads that are not the sandbox server's per-connection handlers."""
    return {t for t in threads if "process_request" not in t.name}


def test_thread_starts_lazily_on_first_submit(make_processor: Make, deliver: Deliver) -> None:
    request = deliver()
    before = set(threading.enumerate())
    processor = make_processor()
    assert _ours(set(threading.enumerate()) - before) == set()
    processor.submit(request)
    started = _ours(set(threading.enumerate()) - before)
    assert [t.name for t in started] == ["infinium-interpretation"]
    assert all(t.daemon for t in started)


def test_500_pending_runs_are_served_by_exactly_one_thread(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.interpretation_delay = 1.5
    requests = [deliver() for _ in range(500)]
    received: list[InterpretationOutcome] = []
    before = set(threading.enumerate())
    processor = make_processor(on_result=received.append, poll_timeout=30)
    for request in requests:
        assert processor.submit(request)
    peak = _ours(set(threading.enumerate()) - before)
    time.sleep(1.5)  # the first round of polls is under way
    during = _ours(set(threading.enumerate()) - before)
    assert processor.flush(timeout=30)
    assert len(peak) == 1 and during == peak
    assert len(received) == 500
    assert {o.status for o in received} == {"ready"}
    stats = processor.stats()
    assert stats["ready"] == 500 and stats["pending"] == 0
    assert stats["requests"] == len([r for r in sandbox.requests if r.endpoint == "interpretation"])


def test_shutdown_with_many_pending_returns_promptly_and_counts_them(
    sandbox: Sandbox, make_processor: Make
) -> None:
    sandbox.interpretation_delay = 60
    processor = make_processor(poll_timeout=60)
    for _ in range(300):
        processor.submit(InterpretationRequest(str(uuid.uuid4()), 1, 2))
    time.sleep(1.2)  # polls are being made
    start = time.monotonic()
    assert processor.shutdown(timeout=1.0)
    assert time.monotonic() - start < 1.5
    stats = processor.stats()
    assert stats["abandoned"] == 300
    assert stats["pending"] == 0
    assert not any(t.name == "infinium-interpretation" for t in threading.enumerate())
    assert not processor.submit(InterpretationRequest(str(uuid.uuid4()), 1, 2))


def test_shutdown_of_an_idle_or_unused_processor(make_processor: Make) -> None:
    processor = make_processor()
    assert processor.shutdown(timeout=0.5)
    assert processor.shutdown(timeout=0.5)  # twice is fine


def test_flush_reports_false_when_outcomes_are_still_pending(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.interpretation_delay = 60
    processor = make_processor()
    processor.submit(deliver())
    start = time.monotonic()
    assert not processor.flush(timeout=0.3)
    assert time.monotonic() - start < 3
    assert processor.stats()["pending"] == 1


def test_pending_set_is_bounded_and_drops_the_oldest(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="infinium_otel")
    requests = [deliver() for _ in range(8)]
    received: list[InterpretationOutcome] = []
    processor = make_processor(max_pending=5, on_result=received.append)
    for request in requests:
        assert processor.submit(request)
    stats = processor.stats()
    assert stats["dropped_overflow"] == 3
    assert stats["pending"] == 5
    assert processor.flush(timeout=10)
    assert sorted(o.infinium_trace_id for o in received) == sorted(
        r.infinium_trace_id for r in requests[3:]
    )
    overflow_warnings = [r for r in caplog.records if "dropping the oldest" in r.getMessage()]
    assert len(overflow_warnings) == 1


def test_submit_refuses_what_is_not_a_request(make_processor: Make) -> None:
    processor = make_processor()
    assert not processor.submit("0b1c2d3e-0000-4000-8000-000000000001")  # type: ignore[arg-type]
    assert processor.stats()["submitted"] == 0


def test_secret_never_appears_in_any_log_record(
    sandbox: Sandbox,
    make_processor: Make,
    deliver: Deliver,
    logs: Logs,
    spans: Spans,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.interpretation_delay = 0

    def broken(outcome: InterpretationOutcome) -> None:
        raise RuntimeError("callback bug")

    processor = make_processor(
        sinks=["log", "span_event"],
        logger_provider=logs.provider,
        tracer_provider=spans.provider,
        on_result=broken,
    )
    sandbox.faults.push("interpretation", Fault(status=503), Fault(status=429, retry_after="1"))
    processor.submit(deliver())
    assert processor.flush(timeout=10)
    sandbox.faults.push("interpretation", Fault(status=401))
    processor.submit(deliver())
    assert processor.flush(timeout=10)

    secret = sandbox.agent_secret
    texts = [r.getMessage() for r in caplog.records]
    texts += [repr(vars(r)) for r in caplog.records]
    texts += [
        caplog.handler.formatter.formatException(r.exc_info)  # type: ignore[union-attr]
        for r in caplog.records
        if r.exc_info
    ]
    texts += [
        repr(r.log_record.body) + repr(r.log_record.attributes)
        for r in logs.exporter.get_finished_logs()
    ]
    texts += [repr(s.attributes) + repr(s.events) for s in spans.exporter.get_finished_spans()]
    texts.append(repr(processor))
    assert any("polling stopped" in t for t in texts)  # the 401 path was logged
    assert any("callback bug" in t for t in texts)  # the sink error was logged
    assert not [t for t in texts if secret in t]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_forked_child_gets_an_empty_processor_and_its_own_thread(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.interpretation_delay = 60
    parent_request, child_request = deliver(), deliver()
    sandbox.make_ready(child_request.infinium_trace_id)
    processor = make_processor(poll_timeout=30)
    processor.submit(parent_request)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports through the pipe and never returns into pytest
        try:
            inherited = processor.stats()
            thread_before = any(t.name == "infinium-interpretation" for t in threading.enumerate())
            accepted = processor.submit(child_request)
            flushed = processor.flush(timeout=10)
            after = processor.stats()
            report = (
                f"pending={inherited['pending']} submitted={inherited['submitted']} "
                f"thread_before={thread_before} accepted={accepted} flushed={flushed} "
                f"ready={after['ready']}"
            )
            os.write(write_end, report.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    report = os.read(read_end, 4096).decode()
    os.close(read_end)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert report == (
        "pending=0 submitted=0 thread_before=False accepted=True flushed=True ready=1"
    )
    # The parent's own pending run is untouched by the child.
    assert processor.stats()["pending"] == 1
