"""Assembly: spans in, runs out, with the real SDK making the spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.nesting import NestingTracker

AGENT = {"gen_ai.operation.name": "invoke_agent"}
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}


class Spans:
    """A real provider whose finished spans we collect, with a nesting tracker."""

    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        self.tracker = NestingTracker()
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.tracker)
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("tests")

    def take(self) -> list[ReadableSpan]:
        spans = list(self.memory.get_finished_spans())
        self.memory.clear()
        return spans

    def assembler(self, **kwargs: object) -> RunAssembler:
        return RunAssembler(
            nested=self.tracker.verdict,
            live=self.tracker.live_snapshot,
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture
def spans() -> Iterator[Spans]:
    made = Spans()
    yield made
    made.provider.shutdown()


def names(run_spans: tuple[ReadableSpan, ...]) -> set[str]:
    return {s.name for s in run_spans}


def test_agent_run_is_emitted_when_its_root_ends(spans: Spans) -> None:
    assembler = spans.assembler()
    with spans.tracer.start_as_current_span("agent", attributes=AGENT):
        with spans.tracer.start_as_current_span("chat", attributes=CHAT):
            with spans.tracer.start_as_current_span("POST"):
                pass
        with spans.tracer.start_as_current_span("tool", attributes=TOOL):
            pass
        assert assembler.add(spans.take(), now=0.0) == []  # root still open
    runs = assembler.add(spans.take(), now=1.0)
    assert len(runs) == 1
    assert runs[0].root.name == "agent"
    assert names(runs[0].spans) == {"agent", "chat", "POST", "tool"}
    assert not runs[0].partial
    assert assembler.buffered_spans == 0


def test_nested_agent_stays_inside_its_parent_run(spans: Spans) -> None:
    assembler = spans.assembler()
    with spans.tracer.start_as_current_span("outer", attributes=AGENT):
        with spans.tracer.start_as_current_span("middle step"):
            with spans.tracer.start_as_current_span("inner", attributes=AGENT):
                with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                    pass
        assert assembler.add(spans.take(), now=0.0) == []
    runs = assembler.add(spans.take(), now=0.0)
    assert [r.root.name for r in runs] == ["outer"]
    assert names(runs[0].spans) == {"outer", "middle step", "inner", "chat"}


def test_two_sequential_runs_under_a_web_request(spans: Spans) -> None:
    assembler = spans.assembler()
    runs = []
    with spans.tracer.start_as_current_span("GET /plan"):
        for name in ("first", "second"):
            with spans.tracer.start_as_current_span(name, attributes=AGENT):
                with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                    pass
            runs += assembler.add(spans.take(), now=0.0)
        with spans.tracer.start_as_current_span("db query"):
            pass
    runs += assembler.add(spans.take(), now=0.0)
    assert [r.root.name for r in runs] == ["first", "second"]
    assert all(len(r.spans) == 2 for r in runs)
    # The request root and its plain child hold no GenAI work: not a run.
    assert assembler.stats.spans_dropped_no_genai == 2
    assert assembler.buffered_spans == 0


def test_plain_tree_is_not_a_run(spans: Spans) -> None:
    assembler = spans.assembler()
    with spans.tracer.start_as_current_span("GET /health"):
        with spans.tracer.start_as_current_span("SELECT 1"):
            pass
    assert assembler.add(spans.take(), now=0.0) == []
    assert assembler.stats.spans_dropped_no_genai == 2


def test_local_root_with_llm_call_is_the_run_root(spans: Spans) -> None:
    assembler = spans.assembler()
    with spans.tracer.start_as_current_span("handle ticket"):
        with spans.tracer.start_as_current_span("chat", attributes=CHAT):
            pass
    runs = assembler.add(spans.take(), now=0.0)
    assert [r.root.name for r in runs] == ["handle ticket"]
    assert names(runs[0].spans) == {"handle ticket", "chat"}


def test_remote_parent_makes_a_local_root(spans: Spans) -> None:
    assembler = spans.assembler()
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    ctx = trace.set_span_in_context(NonRecordingSpan(remote))
    with spans.tracer.start_as_current_span("worker", context=ctx):
        with spans.tracer.start_as_current_span("chat", attributes=CHAT):
            pass
    runs = assembler.add(spans.take(), now=0.0)
    assert len(runs) == 1
    assert runs[0].trace_id == 0xABC


def test_runs_on_one_batch_in_any_order(spans: Spans) -> None:
    assembler = spans.assembler()
    for name in ("a", "b", "c"):
        with spans.tracer.start_as_current_span(name, attributes=AGENT):
            with spans.tracer.start_as_current_span(f"{name}-chat", attributes=CHAT):
                pass
    batch = spans.take()
    runs = assembler.add(list(reversed(batch)), now=0.0)
    assert sorted(r.root.name for r in runs) == ["a", "b", "c"]
    for run in runs:
        assert names(run.spans) == {run.root.name, f"{run.root.name}-chat"}


def test_incomplete_tree_expires_as_partial_run(spans: Spans) -> None:
    assembler = spans.assembler(run_ttl=10.0)
    root = spans.tracer.start_span("agent", attributes=AGENT)
    with trace.use_span(root, end_on_exit=False):
        with spans.tracer.start_as_current_span("chat", attributes=CHAT):
            pass
    assert assembler.add(spans.take(), now=0.0) == []
    assert assembler.expire(now=5.0) == []
    runs = assembler.expire(now=10.5)
    assert len(runs) == 1 and runs[0].partial
    assert "time-to-live" in (runs[0].partial_reason or "")
    # The root is still open: the run stands on a snapshot of it, the chat stays a span of it.
    assert runs[0].root.name == "agent"
    assert runs[0].root.end_time is None
    assert runs[0].root.context.span_id == root.get_span_context().span_id
    assert names(runs[0].spans) == {"chat"}
    root.end()
    # The root arriving after its run left is a late span, counted, not resent.
    assert assembler.add(spans.take(), now=11.0) == []
    assert assembler.stats.runs_partial == 1


def test_late_child_after_run_is_counted(spans: Spans) -> None:
    assembler = spans.assembler()
    root = spans.tracer.start_span("agent", attributes=AGENT)
    ctx = trace.set_span_in_context(root)
    straggler = spans.tracer.start_span("background", context=ctx)
    root.end()
    assert len(assembler.add(spans.take(), now=0.0)) == 1
    straggler.end()
    assert assembler.add(spans.take(), now=0.0) == []
    assert assembler.stats.late_spans == 1
    assert assembler.buffered_spans == 0


def test_global_cap_evicts_oldest_trace_as_partial(spans: Spans) -> None:
    assembler = spans.assembler(max_buffered_spans=5)
    open_roots = []
    for i in range(3):
        root = spans.tracer.start_span(f"agent-{i}", attributes=AGENT)
        open_roots.append(root)
        with trace.use_span(root, end_on_exit=False):
            for _ in range(2):
                with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                    pass
    runs = assembler.add(spans.take(), now=0.0)
    assert len(runs) == 1 and runs[0].partial
    assert assembler.buffered_spans <= 5
    assert assembler.stats.traces_evicted == 1
    for root in open_roots:
        root.end()


def test_per_trace_cap_drops_and_says_so(spans: Spans) -> None:
    assembler = spans.assembler(max_spans_per_run=3)
    with spans.tracer.start_as_current_span("agent", attributes=AGENT):
        for _ in range(5):
            with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                pass
    runs = assembler.add(spans.take(), now=0.0)
    assert len(runs) == 1
    assert len(runs[0].spans) == 4  # three children kept, and the root
    assert runs[0].partial and "2 spans" in (runs[0].partial_reason or "")
    assert assembler.stats.spans_dropped_cap == 2


def test_internal_interpretation_spans_are_ignored(spans: Spans) -> None:
    assembler = spans.assembler()
    tracer = spans.provider.get_tracer("infinium_otel.interpretation")
    with tracer.start_as_current_span("infinium.interpretation", attributes=AGENT):
        pass
    assert assembler.add(spans.take(), now=0.0) == []
    assert assembler.stats.spans_internal == 1
    assert assembler.buffered_spans == 0


def test_drain_sends_open_trees_and_handles_broken_links(spans: Spans) -> None:
    assembler = spans.assembler()
    root = spans.tracer.start_span("agent", attributes=AGENT)
    with trace.use_span(root, end_on_exit=False):
        with spans.tracer.start_as_current_span("tool", attributes=TOOL):
            pass
    assembler.add(spans.take(), now=0.0)
    runs = assembler.drain()
    assert len(runs) == 1 and runs[0].partial
    assert assembler.buffered_spans == 0
    root.end()


def test_partial_run_without_a_tracker_gets_a_synthetic_root(spans: Spans) -> None:
    assembler = RunAssembler(run_ttl=1.0)
    root = spans.tracer.start_span("agent", attributes=AGENT)
    with trace.use_span(root, end_on_exit=False):
        for _ in range(2):
            with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                pass
    assert assembler.add(spans.take(), now=0.0) == []
    [run] = assembler.expire(now=2.0)
    assert run.partial
    # No open span to stand on: a synthetic root in the missing parent's place, so
    # neither chat span is swallowed as the root.
    assert run.root.name == "partial run"
    assert run.root.context.span_id == root.get_span_context().span_id
    assert [s.name for s in run.spans] == ["chat", "chat"]
    root.end()


def test_tracker_attaches_to_every_new_provider_even_when_ids_are_reused() -> None:
    import gc

    from infinium_otel.export.nesting import Nesting

    tracker = NestingTracker()
    for _ in range(20):
        provider = TracerProvider()
        tracker.attach(provider)
        tracker.attach(provider)  # idempotent
        spans_exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(spans_exporter))
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("outer", attributes=AGENT):
            with tracer.start_as_current_span("inner", attributes=AGENT) as inner:
                pass
        # Only an attached tracker knows the inner agent ended inside the outer one.
        context = inner.get_span_context()
        assert tracker.verdict(context.trace_id, context.span_id) is Nesting.NESTED
        assert len(spans_exporter.get_finished_spans()) == 2
        provider.shutdown()
        del provider, tracer, spans_exporter
        gc.collect()


def test_a_span_naming_itself_as_parent_is_its_own_run_and_an_invalid_one_is_dropped() -> None:
    # Spans as another SDK or a bridge may hand them over: made directly, not by a tracer.
    trace_id, span_id = 0x1234, 0x99
    own = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))
    looped = ReadableSpan(
        name="agent", context=own, parent=own, attributes=AGENT, start_time=1, end_time=2
    )
    invalid = ReadableSpan(
        name="chat",
        context=SpanContext(0, 0, is_remote=False),
        attributes=CHAT,
        start_time=1,
        end_time=2,
    )
    assembler = RunAssembler()
    assert assembler.add([invalid, looped], 0.0) == []  # an agent span waits for its place
    assert assembler.stats.spans_received == 2
    assert assembler.stats.spans_dropped_cap == 1
    assert assembler.buffered_spans == 1
    runs = assembler.drain()
    assert [(run.root.name, len(run.spans)) for run in runs] == [("agent", 1)]
    assert assembler.buffered_spans == 0
