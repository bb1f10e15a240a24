"""The polling schedule against the sandbox: not ready, timeouts, 429, 401, 5xx."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import ConfigurationError
from infinium_otel.interpretation import (
    InterpretationOutcome,
    InterpretationProcessor,
    InterpretationRequest,
)
from infinium_otel.sandbox import Sandbox
from infinium_otel.sandbox.faults import Fault

from .conftest import MINIMAL_PAYLOAD, Logs, client_for

Make = Callable[..., InterpretationProcessor]
Deliver = Callable[..., InterpretationRequest]


def _polls(sandbox: Sandbox) -> list[float]:
    return [r.at for r in sandbox.requests if r.endpoint == "interpretation"]


def _collect(make_processor: Make, **kwargs: object) -> tuple[InterpretationProcessor, list[Any]]:
    received: list[InterpretationOutcome] = []
    return make_processor(on_result=received.append, **kwargs), received


def test_not_ready_404_then_ready(sandbox: Sandbox, make_processor: Make, deliver: Deliver) -> None:
    sandbox.interpretation_delay = 1.5
    processor, received = _collect(make_processor)
    processor.submit(deliver())
    assert processor.flush(timeout=10)
    (outcome,) = received
    assert outcome.status == "ready"
    assert outcome.attempts == 2
    statuses = [r.status for r in sandbox.requests if r.endpoint == "interpretation"]
    assert statuses == [404, 200]
    first, second = _polls(sandbox)
    assert second - first >= 0.95  # never closer than the poll interval


@pytest.fixture
def sandbox_200() -> Iterator[Sandbox]:
    with Sandbox(interpretation_delay=1.5, not_ready_status=200) as sb:
        yield sb


def test_not_ready_200_then_ready(sandbox_200: Sandbox) -> None:
    received: list[InterpretationOutcome] = []
    with client_for(sandbox_200) as client:
        trace_id = client.send_task_data(MINIMAL_PAYLOAD).trace_id
        assert trace_id
        processor = InterpretationProcessor(
            client=client, poll_interval=1.0, poll_timeout=10, sinks=[], on_result=received.append
        )
        try:
            processor.submit(InterpretationRequest(trace_id, 1, 2))
            assert processor.flush(timeout=10)
        finally:
            processor.shutdown()
    (outcome,) = received
    assert outcome.status == "ready"
    assert outcome.attempts == 2
    statuses = [r.status for r in sandbox_200.requests if r.endpoint == "interpretation"]
    assert statuses == [200, 200]


def test_deadline_gives_a_timed_out_outcome_with_the_last_message(
    sandbox: Sandbox,
    client: InfiniumClient,
    make_processor: Make,
    deliver: Deliver,
    logs: Logs,
    result_log: pytest.LogCaptureFixture,
) -> None:
    sandbox.interpretation_delay = 60
    request = deliver()
    last_message = client.get_interpreted_task_result(request.infinium_trace_id).message
    assert last_message
    processor, received = _collect(
        make_processor, poll_timeout=1.5, sinks=["log"], logger_provider=logs.provider
    )
    start = time.monotonic()
    processor.submit(request)
    assert processor.flush(timeout=10)
    assert time.monotonic() - start < 8  # gave up near 1.5 s, not at the default 120 s

    (outcome,) = received
    assert outcome.status == "timed_out"
    assert outcome.result is None
    assert last_message in outcome.message
    assert outcome.attempts == 1
    assert outcome.elapsed >= 1.5
    assert processor.stats()["timed_out"] == 1
    warnings = [r for r in result_log.records if r.name == "infinium_otel.interpretation"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert warnings[0].interpretation_status == "timed_out"  # type: ignore[attr-defined]
    (readable,) = logs.interpretations()
    assert readable.log_record.severity_text == "WARN"
    assert readable.log_record.trace_id == request.otel_trace_id


def test_rate_limit_pushes_the_next_poll_past_retry_after(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.interpretation_delay = 0
    sandbox.faults.push("interpretation", Fault(status=429, retry_after="2"))
    processor, received = _collect(make_processor)
    processor.submit(deliver())
    assert processor.flush(timeout=10)
    (outcome,) = received
    assert outcome.status == "ready"
    assert outcome.attempts == 2
    statuses = [r.status for r in sandbox.requests if r.endpoint == "interpretation"]
    assert statuses == [429, 200]
    first, second = _polls(sandbox)
    assert second - first >= 2.0


def test_rate_limit_beyond_the_deadline_times_out_without_another_poll(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.faults.push("interpretation", Fault(status=429, retry_after="30"))
    processor, received = _collect(make_processor, poll_timeout=3.0)
    processor.submit(deliver())
    assert processor.flush(timeout=10)
    (outcome,) = received
    assert outcome.status == "timed_out"
    assert "429" in outcome.message
    assert len(_polls(sandbox)) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_every_pending_poll_with_one_log_line(
    status: int,
    sandbox: Sandbox,
    make_processor: Make,
    deliver: Deliver,
    result_log: pytest.LogCaptureFixture,
) -> None:
    sandbox.interpretation_delay = 60
    sandbox.faults.push("interpretation", Fault(status=status))
    processor, received = _collect(make_processor, sinks=["log"])
    requests = [deliver() for _ in range(3)]
    for request in requests:
        processor.submit(request)
    assert processor.flush(timeout=10)

    assert sorted(o.infinium_trace_id for o in received) == sorted(
        r.infinium_trace_id for r in requests
    )
    assert {o.status for o in received} == {"failed"}
    assert all(str(status) in o.message for o in received)
    errors = [r for r in result_log.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "polling stopped" in errors[0].getMessage()
    polls = len(_polls(sandbox))
    assert polls == 1
    # A later run is failed at once: no request goes out with refused credentials.
    processor.submit(deliver())
    assert processor.flush(timeout=5)
    time.sleep(1.2)
    assert len(_polls(sandbox)) == polls
    assert received[-1].status == "failed"
    assert processor.stats()["failed"] == 4
    assert processor.stats()["requests"] == 1


@pytest.mark.parametrize(
    "fault", [Fault(status=503), Fault(status=500), Fault(drop=True)], ids=["503", "500", "drop"]
)
def test_server_and_network_errors_back_off_then_succeed(
    fault: Fault, sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.interpretation_delay = 0
    sandbox.faults.push("interpretation", fault)
    processor, received = _collect(make_processor)
    processor.submit(deliver())
    assert processor.flush(timeout=10)
    (outcome,) = received
    assert outcome.status == "ready"
    assert outcome.attempts == 2
    first, second = _polls(sandbox)[:2]
    assert second - first >= 1.4  # backed off: at least 2 intervals minus jitter


def test_a_slow_answer_is_cut_by_the_poll_deadline(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.faults.push("interpretation", Fault(status=200, delay=8.0))
    processor, received = _collect(make_processor, poll_timeout=2.5)
    processor.submit(deliver())
    # The call gets at most MIN_CALL_WINDOW (2 s) near the give-up time, not 8 s.
    assert processor.flush(timeout=7)
    (outcome,) = received
    assert outcome.status == "timed_out"


def test_invalid_trace_id_fails_without_looping(make_processor: Make) -> None:
    processor, received = _collect(make_processor)
    processor.submit(InterpretationRequest("not-a-uuid", 1, 2))
    assert processor.flush(timeout=5)
    (outcome,) = received
    assert outcome.status == "failed"


@pytest.mark.parametrize("interval", [0.5, 0.0, -1.0, float("nan")])
def test_poll_interval_under_one_second_is_refused(client: InfiniumClient, interval: float) -> None:
    with pytest.raises(ConfigurationError) as info:
        InterpretationProcessor(client=client, poll_interval=interval)
    assert info.value.config_key == "poll_interval"


def test_unknown_sink_is_refused(client: InfiniumClient) -> None:
    with pytest.raises(ConfigurationError):
        InterpretationProcessor(client=client, sinks=["log", "stdout"])


def test_defaults_come_from_settings(client: InfiniumClient) -> None:
    processor = InterpretationProcessor(client=client)
    assert processor.poll_interval == 3.0
    assert processor.poll_timeout == 120.0
    assert "log" in repr(processor)
    processor.shutdown()
