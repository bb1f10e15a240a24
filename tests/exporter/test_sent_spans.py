"""What assembly remembers of runs already sent: enough to count late and repeated
spans, bounded by traces and by span ids, the oldest trace forgotten first."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.sent_spans import SentSpans

AGENT = {"gen_ai.operation.name": "invoke_agent"}
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}


def runs_of_two_spans(count: int) -> list[list[ReadableSpan]]:
    """``count`` agent runs made by the real SDK, each an agent span and a chat under it."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("sent")
    made = []
    for number in range(count):
        with tracer.start_as_current_span(f"agent {number}", attributes=AGENT):
            with tracer.start_as_current_span(f"chat {number}", attributes=CHAT):
                pass
        made.append(list(memory.get_finished_spans()))
        memory.clear()
    provider.shutdown()
    return made


def test_a_repeated_span_of_a_remembered_run_is_counted_and_of_a_forgotten_one_is_not() -> None:
    runs = runs_of_two_spans(3)
    assembler = RunAssembler(max_remembered_traces=2)
    for number, spans in enumerate(runs):
        assert len(assembler.add(spans, float(number))) == 1
    # The newest two traces are remembered: their spans again are duplicates.
    assert assembler.add(runs[2] + runs[1], 5.0) == []
    assert assembler.stats.spans_duplicate == 4
    # The oldest was forgotten: its agent span again is a run root once more.
    again = assembler.add(runs[0][1:], 6.0)
    assert [run.root.name for run in again] == ["agent 0"]
    assert assembler.stats.spans_duplicate == 4


def test_the_span_bound_forgets_the_oldest_traces_but_never_the_one_just_noted() -> None:
    sent = SentSpans(max_traces=10, max_spans=5)
    sent.remember(1, sent.of(1), [11, 12])
    sent.remember(2, sent.of(2), [21, 22])
    assert list(sent.by_trace) == [1, 2]
    sent.remember(3, sent.of(3), [31, 32])  # six ids: trace 1 goes
    assert list(sent.by_trace) == [2, 3]
    # Trace 2 touched again becomes the newest, so trace 3 is now the oldest.
    sent.remember(2, sent.of(2), [23], partial_parents=[20])
    assert list(sent.by_trace) == [2]
    assert sent.by_trace[2].span_ids == {21, 22, 23}
    assert sent.by_trace[2].partial_parents == {20}
    # One trace over the bound on its own is kept: it is the one being noted.
    sent.remember(2, sent.of(2), range(100, 110))
    assert list(sent.by_trace) == [2] and len(sent.by_trace[2]) == 14
    sent.clear()
    assert not sent.by_trace
    sent.remember(4, sent.of(4), [41, 42, 43, 44, 45])
    assert list(sent.by_trace) == [4]  # the count started again from zero
    sent.remember(5, sent.of(5), [51])
    assert list(sent.by_trace) == [5]
