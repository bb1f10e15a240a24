"""A ready interpretation reaches every sink, tied to the run it grades."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from opentelemetry._logs import SeverityNumber

from infinium_otel.interpretation import (
    InterpretationOutcome,
    InterpretationProcessor,
    InterpretationRequest,
)
from infinium_otel.sandbox import Sandbox

from .conftest import Logs, Spans

Make = Callable[..., InterpretationProcessor]
Deliver = Callable[..., InterpretationRequest]


def _trace_posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.endpoint == "trace")


def test_ready_result_becomes_an_otel_log_record_correlated_to_the_run(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    request = deliver()
    posts = _trace_posts(sandbox)
    processor = make_processor(sinks=["log"], logger_provider=logs.provider)

    assert processor.submit(request)
    assert processor.flush(timeout=10)

    (readable,) = logs.interpretations()
    record = readable.log_record
    assert record.trace_id == request.otel_trace_id
    assert record.span_id == request.otel_span_id
    assert record.event_name == "infinium.interpretation"
    assert record.severity_number == SeverityNumber.INFO
    assert readable.instrumentation_scope.name == "infinium_otel.interpretation"
    assert isinstance(record.body, dict)
    assert "summary" in record.body  # as the sandbox's "Maestro" returned it
    attributes = dict(record.attributes or {})
    assert attributes["infinium.trace_id"] == request.infinium_trace_id
    assert attributes["infinium.interpretation.status"] == "ready"
    assert attributes["gen_ai.agent.name"] == "support-bot"
    assert attributes["service.name"] == "checkout"
    assert _trace_posts(sandbox) == posts  # nothing new was sent as a run


def test_unknown_agent_and_service_are_left_out(
    make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    request = deliver(agent_name=None)
    processor = make_processor(sinks=["log"], logger_provider=logs.provider)
    processor.submit(request)
    assert processor.flush(timeout=10)
    (readable,) = logs.interpretations()
    attributes = dict(readable.log_record.attributes or {})
    assert "gen_ai.agent.name" not in attributes
    assert "service.name" not in attributes


def test_ready_result_is_a_readable_python_log_record_with_extras(
    make_processor: Make, deliver: Deliver, logs: Logs, result_log: pytest.LogCaptureFixture
) -> None:
    request = deliver()
    processor = make_processor(sinks=["log"], logger_provider=logs.provider)
    processor.submit(request)
    assert processor.flush(timeout=10)

    records = [r for r in result_log.records if r.name == "infinium_otel.interpretation"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert message.startswith("Maestro interpretation for agent 'support-bot'")
    assert request.infinium_trace_id in message
    assert "\n" not in message
    assert record.infinium_trace_id == request.infinium_trace_id  # type: ignore[attr-defined]
    assert record.otel_trace_id == format(request.otel_trace_id, "032x")  # type: ignore[attr-defined]
    assert record.otel_span_id == format(request.otel_span_id, "016x")  # type: ignore[attr-defined]
    assert record.interpretation_status == "ready"  # type: ignore[attr-defined]
    assert record.agent_name == "support-bot"  # type: ignore[attr-defined]
    assert record.interpretation["summary"] in message  # type: ignore[attr-defined]


def test_ready_result_becomes_a_child_span_event_of_the_run_root(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, spans: Spans
) -> None:
    request = deliver()
    posts = _trace_posts(sandbox)
    processor = make_processor(sinks=["span_event"], tracer_provider=spans.provider)
    processor.submit(request)
    assert processor.flush(timeout=10)

    (span,) = spans.exporter.get_finished_spans()
    assert span.name == "infinium.interpretation"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "infinium_otel.interpretation"
    assert span.context is not None and span.parent is not None
    assert span.context.trace_id == request.otel_trace_id
    assert span.parent.span_id == request.otel_span_id
    assert span.parent.is_remote
    assert dict(span.attributes or {})["infinium.internal"] is True
    (event,) = span.events
    assert event.name == "infinium.interpretation"
    attributes = dict(event.attributes or {})
    assert attributes["infinium.trace_id"] == request.infinium_trace_id
    assert attributes["infinium.interpretation.status"] == "ready"
    assert '"summary":' in str(attributes["infinium.interpretation"])  # compact JSON
    assert _trace_posts(sandbox) == posts


def test_callback_receives_the_outcome(make_processor: Make, deliver: Deliver) -> None:
    received: list[InterpretationOutcome] = []
    request = deliver()
    processor = make_processor(on_result=received.append)
    processor.submit(request)
    assert processor.flush(timeout=10)

    (outcome,) = received
    assert outcome.status == "ready"
    assert outcome.infinium_trace_id == request.infinium_trace_id
    assert outcome.otel_trace_id == request.otel_trace_id
    assert outcome.otel_span_id == request.otel_span_id
    assert outcome.trace_id_hex == format(request.otel_trace_id, "032x")
    assert isinstance(outcome.result, dict) and outcome.result["summary"]
    assert outcome.attempts == 1
    assert outcome.elapsed >= 1.0  # first poll waits one interval
    assert processor.stats()["ready"] == 1


def test_all_sinks_together(
    make_processor: Make, deliver: Deliver, logs: Logs, spans: Spans
) -> None:
    received: list[InterpretationOutcome] = []
    requests = [deliver(), deliver()]
    processor = make_processor(
        sinks=["log", "span_event"],
        logger_provider=logs.provider,
        tracer_provider=spans.provider,
        on_result=received.append,
    )
    for request in requests:
        processor.submit(request)
    assert processor.flush(timeout=10)
    wanted = {(r.otel_trace_id, r.otel_span_id) for r in requests}
    assert {(o.otel_trace_id, o.otel_span_id) for o in received} == wanted
    assert {(r.log_record.trace_id, r.log_record.span_id) for r in logs.interpretations()} == wanted
    assert {
        (s.context.trace_id, s.parent.span_id)  # type: ignore[union-attr]
        for s in spans.exporter.get_finished_spans()
    } == wanted


def test_a_raising_sink_does_not_stop_the_others_or_the_thread(
    make_processor: Make, deliver: Deliver, logs: Logs, result_log: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(outcome: InterpretationOutcome) -> None:
        calls.append(outcome.infinium_trace_id)
        raise RuntimeError("callback bug")

    processor = make_processor(sinks=["log"], logger_provider=logs.provider, on_result=broken)
    first, second = deliver(), deliver()
    processor.submit(first)
    assert processor.flush(timeout=10)
    processor.submit(second)
    assert processor.flush(timeout=10)

    assert calls == [first.infinium_trace_id, second.infinium_trace_id]
    assert len(logs.interpretations()) == 2
    assert processor.stats()["ready"] == 2
    complaints = [
        r
        for r in result_log.records
        if "sink 'callback' raised" in r.getMessage() and r.levelno >= logging.WARNING
    ]
    assert len(complaints) == 1  # logged once, not per outcome


def test_a_failing_tracer_provider_does_not_block_the_log_sink(
    make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    class BrokenTracerProvider:
        def get_tracer(self, *args: object, **kwargs: object) -> object:
            raise RuntimeError("no tracer")

    processor = make_processor(
        sinks=["span_event", "log"],
        logger_provider=logs.provider,
        tracer_provider=BrokenTracerProvider(),
    )
    processor.submit(deliver())
    assert processor.flush(timeout=10)
    assert len(logs.interpretations()) == 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_otel_logging_handler_copy_replaces_the_direct_record(
    make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    """With an OTel LoggingHandler on the logger chain, one OTel record, still correlated."""
    from opentelemetry.sdk._logs import LoggingHandler

    handler = LoggingHandler(logger_provider=logs.provider)
    target = logging.getLogger("infinium_otel.interpretation")
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    try:
        processor = make_processor(sinks=["log"])  # no explicit logger_provider
        request = deliver()
        processor.submit(request)
        assert processor.flush(timeout=10)
    finally:
        target.removeHandler(handler)
        target.setLevel(logging.NOTSET)

    (readable,) = logs.exporter.get_finished_logs()
    record = readable.log_record
    assert record.trace_id == request.otel_trace_id
    assert record.span_id == request.otel_span_id
    assert isinstance(record.body, str) and record.body.startswith("Maestro interpretation")
    assert dict(record.attributes or {})["infinium_trace_id"] == request.infinium_trace_id


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_handler_detection_follows_levels_and_propagation(logs: Logs) -> None:
    from opentelemetry.sdk._logs import LoggingHandler

    from infinium_otel.interpretation.sinks import otel_handler_takes

    parent = logging.getLogger("infinium_test_detect")
    child = logging.getLogger("infinium_test_detect.child")
    handler = LoggingHandler(level=logging.WARNING, logger_provider=logs.provider)
    parent.addHandler(handler)
    parent.setLevel(logging.INFO)
    try:
        assert otel_handler_takes(child, logging.WARNING)
        assert not otel_handler_takes(child, logging.INFO)  # below the handler's level
        child.propagate = False
        assert not otel_handler_takes(child, logging.ERROR)
        child.propagate = True
        parent.setLevel(logging.CRITICAL)
        assert not otel_handler_takes(child, logging.ERROR)  # logger not enabled
        parent.removeHandler(handler)
        parent.addHandler(logging.NullHandler())
        parent.setLevel(logging.DEBUG)
        assert not otel_handler_takes(child, logging.ERROR)  # no OTel handler at all
    finally:
        parent.handlers.clear()
        parent.setLevel(logging.NOTSET)
        child.propagate = True


def test_the_whole_record_form_of_emit_still_correlates(logs: Logs) -> None:
    """The path taken with opentelemetry-api releases whose Logger.emit takes only a record."""
    from opentelemetry._logs import SeverityNumber as Severity

    from infinium_otel.interpretation.sinks import _emit_legacy

    outcome = InterpretationOutcome(
        "timed_out", "id-1", 0xABC, 0xDEF, "bot", None, None, "still grading", 3, 9.0
    )
    logger = logs.provider.get_logger("infinium_otel.interpretation")
    _emit_legacy(logger, outcome, 1, Severity.WARN, "WARN", "still grading", {"k": "v"})
    (readable,) = logs.exporter.get_finished_logs()
    record = readable.log_record
    assert (record.trace_id, record.span_id) == (0xABC, 0xDEF)
    assert record.body == "still grading"
    assert record.severity_number == Severity.WARN
    assert record.event_name == "infinium.interpretation"
