"""The processor ``configure()`` installs: a span's end costs the application thread no tracking."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from infinium_otel import configure
from infinium_otel.export.nesting import NestingTracker
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
