"""One helper object entered concurrently by several threads or asyncio tasks.

``RETRIEVE = step("retrieve")`` at module level, then ``with RETRIEVE:`` in
several threads or tasks at once: each span and context token stays with the
thread or task that entered it. The exits are sequenced with events (no sleeps
to race): the first to enter leaves first while the other is still inside.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace

from infinium_otel.instrumentation.helpers import agent, configure_helpers, step

from .conftest import Tracing

RETRIEVE = step("retrieve")


@pytest.fixture
def helpers(tracing: Tracing) -> Iterator[Tracing]:
    configure_helpers(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        configure_helpers()


def ended_by_name(tracing: Tracing) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for span in tracing.spans():
        who = str(dict(span.attributes or {})["who"])
        assert span.start_time is not None and span.end_time is not None
        found[who] = (span.start_time, span.end_time)
    return found


def no_detach_failures(caplog: pytest.LogCaptureFixture) -> None:
    messages = [record.getMessage() for record in caplog.records]
    assert not any("Failed to detach context" in m for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.timeout(30)
def test_threads_keep_their_own_span_and_context(
    helpers: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first_inside, second_inside, first_left = (threading.Event() for _ in range(3))
    left_at: dict[str, int] = {}
    current_after: dict[str, object] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with RETRIEVE as span:
                span.set_attribute("who", "first")
                first_inside.set()
                assert second_inside.wait(10)
                assert trace.get_current_span() is span
                left_at["first"] = time.time_ns()
            current_after["first"] = trace.get_current_span()
            first_left.set()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
            first_left.set()

    def second() -> None:
        try:
            assert first_inside.wait(10)
            with RETRIEVE as span:
                span.set_attribute("who", "second")
                second_inside.set()
                assert first_left.wait(10)
                assert trace.get_current_span() is span  # still ours after the other left
                left_at["second"] = time.time_ns()
            current_after["second"] = trace.get_current_span()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    spans = ended_by_name(helpers)
    # Each span ended when its own thread left it: the first before the second left.
    assert spans["first"][1] <= left_at["second"]
    assert spans["second"][1] >= left_at["second"]
    assert spans["first"][1] >= left_at["first"]
    assert current_after == {"first": trace.INVALID_SPAN, "second": trace.INVALID_SPAN}
    no_detach_failures(caplog)


@pytest.mark.timeout(30)
def test_asyncio_tasks_keep_their_own_span_and_context(
    helpers: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    left_at: dict[str, int] = {}

    async def main() -> None:
        first_inside, second_inside, first_left = (asyncio.Event() for _ in range(3))

        async def first() -> None:
            async with RETRIEVE as span:
                span.set_attribute("who", "first")
                first_inside.set()
                await second_inside.wait()
                assert trace.get_current_span() is span
                left_at["first"] = time.time_ns()
            first_left.set()

        async def second() -> None:
            await first_inside.wait()
            with RETRIEVE as span:
                span.set_attribute("who", "second")
                second_inside.set()
                await first_left.wait()
                assert trace.get_current_span() is span
                left_at["second"] = time.time_ns()

        await asyncio.wait_for(asyncio.gather(first(), second()), 10)

    asyncio.run(main())
    spans = ended_by_name(helpers)
    assert left_at["first"] <= spans["first"][1] <= left_at["second"] <= spans["second"][1]
    no_detach_failures(caplog)


def test_nesting_the_same_helper_in_one_thread_unwinds_in_order(helpers: Tracing) -> None:
    with RETRIEVE as outer:
        outer.set_attribute("who", "outer")
        with RETRIEVE as inner:
            inner.set_attribute("who", "inner")
            assert trace.get_current_span() is inner
        assert trace.get_current_span() is outer
    assert trace.get_current_span() is trace.INVALID_SPAN
    spans = {str(dict(s.attributes or {})["who"]): s for s in helpers.spans()}
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id


def test_exit_without_enter_is_harmless(helpers: Tracing, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    helper = agent("never-entered")
    assert helper.__exit__(None, None, None) is None
    assert asyncio.run(helper.__aexit__(None, None, None)) is None
    assert helpers.spans() == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_exit_in_another_thread_ends_nothing_there(
    helpers: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    helper = step("crossing")
    span = helper.__enter__()
    worker = threading.Thread(target=helper.__exit__, args=(None, None, None))
    worker.start()
    worker.join(10)
    assert helpers.spans() == []  # the other thread had not entered it
    assert span.is_recording()
    helper.__exit__(None, None, None)
    assert [s.name for s in helpers.spans()] == ["crossing"]
    no_detach_failures(caplog)
