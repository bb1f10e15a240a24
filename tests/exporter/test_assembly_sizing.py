"""Assembly sizes a span only when it stays buffered: the byte cap is checked after a
batch's runs have left, so sizing the spans of a run completed within its batch was
wasted work. The totals and the cap stay what they were."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel.export import assembly
from infinium_otel.export.trace_buffer import estimate_span_bytes

from .test_assembly import AGENT, CHAT, TOOL, Spans


@pytest.fixture
def spans() -> Iterator[Spans]:
    made = Spans()
    yield made
    made.provider.shutdown()


@pytest.fixture
def sized(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the spans assembly sizes, in order."""
    seen: list[str] = []

    def counted(span: ReadableSpan, attributes: Any = None) -> int:
        seen.append(span.name)
        return estimate_span_bytes(span, attributes)

    monkeypatch.setattr(assembly, "estimate_span_bytes", counted)
    return seen


def one_run(spans: Spans, name: str, steps: int = 3) -> list[ReadableSpan]:
    with spans.tracer.start_as_current_span(name, attributes=AGENT):
        for step in range(steps):
            attributes = CHAT if step % 2 == 0 else TOOL
            with spans.tracer.start_as_current_span(f"{name}-{step}", attributes=attributes):
                pass
    return spans.take()


def test_a_run_completed_within_its_batch_is_never_sized(spans: Spans, sized: list[str]) -> None:
    assembler = spans.assembler()
    batch = one_run(spans, "a") + one_run(spans, "b")
    runs = assembler.add(batch, 0.0)
    assert sorted(run.root.name for run in runs) == ["a", "b"]
    assert sized == []
    assert assembler.buffered_bytes == 0 and assembler.buffered_spans == 0


def test_spans_left_waiting_for_their_root_are_sized_once(spans: Spans, sized: list[str]) -> None:
    assembler = spans.assembler()
    first = one_run(spans, "first")
    *children, root = one_run(spans, "open")
    runs = assembler.add(first + children, 0.0)
    assert [run.root.name for run in runs] == ["first"]
    assert sized == [span.name for span in children]  # only what stays buffered
    assert assembler.buffered_bytes == sum(estimate_span_bytes(s) for s in children)
    (run,) = assembler.add([root], 1.0)
    assert len(run.spans) == len(children) + 1
    assert sized == [span.name for span in children]  # the root left at once: not sized
    assert assembler.buffered_bytes == 0


def test_the_byte_cap_still_sends_the_oldest_open_run_as_partial(
    spans: Spans, sized: list[str]
) -> None:
    *older, _ = one_run(spans, "older", steps=4)
    *newer, _ = one_run(spans, "newer", steps=4)
    complete = one_run(spans, "complete", steps=4)
    one_trace = sum(estimate_span_bytes(s) for s in older)
    assembler = spans.assembler(max_buffered_bytes=one_trace + one_trace // 2)
    runs = assembler.add(older + complete + newer, 0.0)
    partial = [run for run in runs if run.partial]
    assert [run.root.name for run in runs if not run.partial] == ["complete"]
    assert len(partial) == 1 and {s.name for s in partial[0].spans} == {s.name for s in older}
    assert assembler.buffered_bytes == sum(estimate_span_bytes(s) for s in newer)
    assert not any(name.startswith("complete") for name in sized)
