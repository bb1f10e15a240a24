"""The processor ``configure()`` installs: a span's end costs the application thread no tracking."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from infinium_otel import configure
from infinium_otel.export import tracked_batch
from infinium_otel.export.nesting import NestingTracker
from infinium_otel.export.tracked_batch import TrackedBatchSpanProcessor
from infinium_otel.sandbox import Sandbox

from .support import agent_attributes, chat_attributes, checked_payloads, trace_posts


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    made = TracerProvider()
    yield made
    made.shutdown()


@pytest.mark.timeout(60)
def test_span_ends_are_tracked_on_the_exporters_thread_and_sub_agents_stay_nested(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    handle = configure(
        tracer_provider=provider,
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
        base_url=sandbox.url,
        timeout=2.0,
        max_retries=0,
        interpretation=False,
        instrument=False,
    )
    assert handle.exporter is not None
    tracker = handle.exporter.nesting_tracker
    emitting = threading.Event()  # set while this thread starts and ends the spans
    on_span_ends: list[ReadableSpan] = []  # tracked by this thread while it ended spans
    tracked: list[ReadableSpan] = []
    ended = tracker.ended

    def recording(span: ReadableSpan) -> None:
        if emitting.is_set() and threading.current_thread() is threading.main_thread():
            on_span_ends.append(span)
        tracked.append(span)
        ended(span)

    tracker.ended = recording  # type: ignore[method-assign]
    tracer = provider.get_tracer("t")
    emitting.set()
    with tracer.start_as_current_span("invoke_agent outer", attributes=agent_attributes("outer")):
        with tracer.start_as_current_span("invoke_agent inner", attributes=agent_attributes("in")):
            with tracer.start_as_current_span("chat", attributes=chat_attributes()):
                pass
    emitting.clear()
    assert handle.flush(10)  # the batch is exported (on whichever thread flushes)
    assert on_span_ends == []
    assert sorted(span.name for span in tracked) == [
        "chat",
        "invoke_agent inner",
        "invoke_agent outer",
    ]
    assert tracker.live_spans == 0
    assert trace_posts(sandbox) == 1  # the sub-agent went out inside the outer run
    (payload,) = checked_payloads(sandbox)
    assert payload["name"] == "outer"
    assert handle.shutdown(10)


def test_a_snapshot_of_a_root_still_queued_after_its_end_keeps_its_end_time(
    provider: TracerProvider,
) -> None:
    tracker = NestingTracker()  # wired as configure() wires it: its on_start only
    tracer = provider.get_tracer("t")
    root = tracer.start_span("invoke_agent outer", attributes=agent_attributes("outer"))
    tracker.on_start(root)  # type: ignore[arg-type]
    span_id = root.get_span_context().span_id
    open_snapshot = tracker.live_snapshot(span_id)
    assert open_snapshot is not None and open_snapshot.end_time is None
    root.end()
    # Ended, but not yet seen by the exporter (which tells the tracker about ends).
    ended_snapshot = tracker.live_snapshot(span_id)
    assert ended_snapshot is not None
    assert ended_snapshot.end_time == root.end_time  # type: ignore[attr-defined]
    assert ended_snapshot.name == "invoke_agent outer"


class Recording(SpanExporter):
    """An exporter that keeps what it receives (and does the tracker's end bookkeeping)."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.nesting_tracker = NestingTracker()
        self.batches: list[list[str]] = []
        self.received = threading.Event()
        self._hold = hold

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.nesting_tracker.ended_all(spans)
        self.batches.append([span.name for span in spans])
        self.received.set()
        if self._hold is not None:
            self._hold.wait(30)
        return SpanExportResult.SUCCESS

    @property
    def names(self) -> list[str]:
        return [name for batch in self.batches for name in batch]


class RecordOnly(Sampler):
    """Spans are recorded (processors see them) but not sampled (not to be exported)."""

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return "record only"


def tracked(exporter: Recording, **options: Any) -> TrackedBatchSpanProcessor:
    return TrackedBatchSpanProcessor(exporter, **options)  # type: ignore[arg-type]


@pytest.mark.timeout(30)
def test_ended_spans_queue_and_a_full_batch_wakes_the_worker(provider: TracerProvider) -> None:
    exporter = Recording()
    # A day's delay: only a full batch can make the worker export before the flush.
    tracked(exporter, max_export_batch_size=3, schedule_delay_millis=86_400_000).add_to(provider)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent outer", attributes=agent_attributes("o")):
        with tracer.start_as_current_span("chat 1", attributes=chat_attributes()):
            pass
        with tracer.start_as_current_span("chat 2", attributes=chat_attributes()):
            pass
    assert exporter.received.wait(20)
    assert exporter.batches[0] == ["chat 1", "chat 2", "invoke_agent outer"]  # oldest first
    assert exporter.nesting_tracker.live_spans == 0


def test_spans_recorded_but_not_sampled_are_not_exported() -> None:
    provider = TracerProvider(sampler=RecordOnly())
    exporter = Recording()
    processor = tracked(exporter)
    processor.add_to(provider)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent outer", attributes=agent_attributes("o")):
        pass
    assert processor.force_flush()
    assert exporter.names == []
    processor.shutdown()


@pytest.mark.timeout(60)
def test_a_full_queue_drops_with_the_sdks_warning(
    provider: TracerProvider, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk_logger = logging.getLogger("opentelemetry.sdk._shared_internal")
    for found in sdk_logger.filters:  # the SDK drops a message repeating its last one
        monkeypatch.setattr(found, "last_log", None, raising=False)
    hold = threading.Event()
    exporter = Recording(hold=hold)  # the first batch holds the worker: the queue fills
    processor = tracked(exporter, max_queue_size=4, max_export_batch_size=2)
    processor.add_to(provider)
    tracer = provider.get_tracer("t")
    try:
        for index in range(2):
            tracer.start_span(f"first {index}").end()
        assert exporter.received.wait(20)  # the worker took them and now waits
        with caplog.at_level(logging.WARNING, logger="opentelemetry.sdk._shared_internal"):
            for index in range(10):
                tracer.start_span(f"later {index}").end()
    finally:
        hold.set()
    assert processor.force_flush()
    later = [name for name in exporter.names if name.startswith("later")]
    assert later == [f"later {index}" for index in range(6, 10)]  # the newest kept
    assert any("Queue full" in record.getMessage() for record in caplog.records)


def test_after_shutdown_spans_are_refused(provider: TracerProvider) -> None:
    exporter = Recording()
    processor = tracked(exporter)
    processor.add_to(provider)
    tracer = provider.get_tracer("t")
    tracer.start_span("before").end()
    processor.shutdown()
    tracer.start_span("after").end()
    assert exporter.names == ["before"]
    assert len(processor._batch_processor._queue) == 0


def test_an_sdk_queue_laid_out_otherwise_keeps_the_sdks_own_end(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracked_batch, "_queue_layout_holds", lambda batch: False)
    exporter = Recording()
    processor = tracked(exporter)
    assert processor.on_end.__func__ is BatchSpanProcessor.on_end  # type: ignore[attr-defined]
    processor.add_to(provider)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent outer", attributes=agent_attributes("o")):
        with tracer.start_as_current_span("invoke_agent inner", attributes=agent_attributes("i")):
            pass
    assert processor.force_flush()
    assert exporter.names == ["invoke_agent inner", "invoke_agent outer"]
    processor.shutdown()


def _python_calls(action: Callable[[], object]) -> int:
    """How many Python functions run (on this thread) while ``action`` does."""
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls - 1  # the action itself


def test_a_span_costs_the_application_thread_no_more_calls_than_a_batch_processor() -> None:
    """The tracker's start bookkeeping is paid for by a leaner end: Python calls on the
    thread that starts and ends a sub-agent's span, with each processor alone."""
    counts = {}
    for kind in ("plain", "tracked"):
        provider = TracerProvider()
        exporter = Recording()
        options: dict[str, Any] = {"schedule_delay_millis": 86_400_000}
        if kind == "plain":
            provider.add_span_processor(BatchSpanProcessor(exporter, **options))
        else:
            tracked(exporter, **options).add_to(provider)
        tracer = provider.get_tracer("t")
        outer = tracer.start_span("invoke_agent outer", attributes=agent_attributes("o"))
        context = trace.set_span_in_context(outer)
        warm = tracer.start_span("warm", context=context)
        warm.end()
        spans: list[Span] = []
        counts[kind] = _python_calls(
            lambda: spans.append(tracer.start_span("chat", context=context))  # noqa: B023
        ) + _python_calls(lambda: spans[0].end())  # noqa: B023
        outer.end()
        provider.shutdown()
    assert counts["tracked"] <= counts["plain"], counts
