"""Which agent span roots a run, however the tracker is wired (or not), with real SDK spans."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.export import nesting
from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.nesting import Nesting, NestingTracker

AGENT = {"gen_ai.operation.name": "invoke_agent"}
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
OI_AGENT = {"openinference.span.kind": "AGENT"}
OI_CHAIN = {"openinference.span.kind": "CHAIN"}
OI_LLM = {"openinference.span.kind": "LLM", "llm.model_name": "m"}
OI_TOOL = {"openinference.span.kind": "TOOL", "tool.name": "search"}


class Spans:
    """A real provider collecting finished spans; the tracker is attached only when asked."""

    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        self.tracker = NestingTracker()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("tests")

    def attach(self) -> None:
        self.tracker.attach(self.provider)

    def take(self) -> list[ReadableSpan]:
        spans = list(self.memory.get_finished_spans())
        self.memory.clear()
        return spans

    def assembler(self, **kwargs: Any) -> RunAssembler:
        return RunAssembler(nested=self.tracker.verdict, live=self.tracker.live_snapshot, **kwargs)

    def start(self, name: str, parent: Span | None = None, **attributes: Any) -> Span:
        """A span that is never made current (as OpenInference's LangChain tracer does)."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, attributes=attributes or None)
        assert isinstance(span, Span)
        return span


@pytest.fixture
def spans() -> Iterator[Spans]:
    made = Spans()
    yield made
    made.provider.shutdown()


def names(run_spans: tuple[ReadableSpan, ...]) -> set[str]:
    return {s.name for s in run_spans}


def finish(span: Span, attributes: dict[str, Any]) -> None:
    """Set the kind at the span's end, then end it."""
    span.set_attributes(attributes)
    span.end()


def emit_nested(spans: Spans) -> None:
    with spans.tracer.start_as_current_span("outer", attributes=AGENT):
        with spans.tracer.start_as_current_span("middle step"):
            with spans.tracer.start_as_current_span("inner", attributes=AGENT):
                with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                    pass


@pytest.mark.parametrize("one_at_a_time", [True, False])
def test_sub_agent_without_a_tracker_stays_in_its_run(spans: Spans, one_at_a_time: bool) -> None:
    assembler = spans.assembler()
    emit_nested(spans)
    batch = spans.take()
    runs = []
    if one_at_a_time:  # as a SimpleSpanProcessor hands them over, children first
        for span in batch:
            runs += assembler.add([span], now=0.0)
    else:
        runs = assembler.add(batch, now=0.0)
    assert [r.root.name for r in runs] == ["outer"]
    assert names(runs[0].spans) == {"outer", "middle step", "inner", "chat"}
    assert assembler.buffered_spans == 0 and assembler.held_spans == 0


def test_agent_kinds_set_at_their_end_still_nest(spans: Spans) -> None:
    """OpenInference's LangChain tracer: kinds at span end, spans never made current."""
    spans.attach()
    assembler = spans.assembler()
    runs = []
    graph = spans.start("research_agent")
    for turn in range(2):
        node = spans.start("agent", graph)
        llm = spans.start("ChatOpenAI", node)
        finish(llm, {**OI_LLM, "llm.token_count.prompt": 10 + turn})
        finish(node, OI_AGENT)
        runs += assembler.add(spans.take(), now=float(turn))
        tools = spans.start("tools", graph)
        finish(spans.start("search", tools), OI_TOOL)
        finish(tools, OI_CHAIN)
        runs += assembler.add(spans.take(), now=float(turn))
    assert runs == []  # nothing is a run while the graph is open
    finish(graph, OI_AGENT)
    runs += assembler.add(spans.take(), now=3.0)
    assert [r.root.name for r in runs] == ["research_agent"]
    assert len(runs[0].spans) == 9
    assert assembler.buffered_spans == 0


@pytest.mark.parametrize("tracked", [True, False])
def test_agents_under_a_frameworks_chain_are_one_run(spans: Spans, tracked: bool) -> None:
    """A LangGraph graph or a CrewAI kickoff is a chain that invokes agents: one invocation,
    one run, whether the kinds are known at the start (tracker) or only at the end."""
    if tracked:
        spans.attach()
    assembler = spans.assembler()
    runs = []
    graph = spans.start("LangGraph", **(OI_CHAIN if tracked else {}))
    for turn in range(2):
        node = spans.start("agent", graph, **(OI_AGENT if tracked else {}))
        finish(spans.start("ChatOpenAI", node), OI_LLM)
        finish(node, OI_AGENT)
        runs += assembler.add(spans.take(), now=float(turn))
    assert runs == []  # the agents wait for the chain above them
    finish(graph, OI_CHAIN)
    runs += assembler.add(spans.take(), now=3.0)
    assert [r.root.name for r in runs] == ["LangGraph"]
    assert len(runs[0].spans) == 5
    assert assembler.buffered_spans == 0


def test_a_tracker_attached_mid_run_does_not_split_the_run(spans: Spans) -> None:
    assembler = spans.assembler()
    with spans.tracer.start_as_current_span("outer", attributes=AGENT):
        spans.attach()  # the exporter's first export attaches it, mid-run
        with spans.tracer.start_as_current_span("inner", attributes=AGENT):
            with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                pass
        assert assembler.add(spans.take(), now=0.0) == []
    runs = assembler.add(spans.take(), now=0.0)
    assert [r.root.name for r in runs] == ["outer"]
    assert names(runs[0].spans) == {"outer", "inner", "chat"}


def test_the_tracker_answers_top_only_when_it_saw_the_whole_chain(spans: Spans) -> None:
    spans.attach()
    with spans.tracer.start_as_current_span("GET /plan"):
        with spans.tracer.start_as_current_span("agent", attributes=AGENT) as agent:
            with spans.tracer.start_as_current_span("sub", attributes=AGENT) as sub:
                pass
        late = spans.start("late-kind", None)
        finish(late, OI_AGENT)
    context, sub_context = agent.get_span_context(), sub.get_span_context()
    assert spans.tracker.verdict(context.trace_id, context.span_id) is Nesting.TOP
    assert spans.tracker.verdict(sub_context.trace_id, sub_context.span_id) is Nesting.NESTED
    late_context = late.get_span_context()
    assert spans.tracker.verdict(late_context.trace_id, late_context.span_id) is Nesting.UNKNOWN


def test_top_level_agent_under_a_plain_parent_goes_out_when_the_parent_ends(
    spans: Spans,
) -> None:
    assembler = spans.assembler(run_ttl=300.0)
    with spans.tracer.start_as_current_span("GET /plan"):
        with spans.tracer.start_as_current_span("agent", attributes=AGENT):
            with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                pass
        # Unattached tracker: it cannot yet tell a top-level agent from a sub-agent.
        assert assembler.add(spans.take(), now=0.0) == []
        assert assembler.held_spans == 1
    runs = assembler.add(spans.take(), now=0.5)
    assert [r.root.name for r in runs] == ["agent"]
    assert not runs[0].partial
    assert assembler.stats.spans_dropped_no_genai == 1  # the request span alone
    assert assembler.buffered_spans == 0


def test_with_the_tracker_a_top_level_agent_goes_out_at_once(spans: Spans) -> None:
    spans.attach()
    assembler = spans.assembler()
    with spans.tracer.start_as_current_span("worker loop"):
        with spans.tracer.start_as_current_span("agent", attributes=AGENT):
            with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                pass
        runs = assembler.add(spans.take(), now=0.0)
        assert [r.root.name for r in runs] == ["agent"]


def test_an_agent_with_no_parent_goes_out_at_once_without_a_tracker(spans: Spans) -> None:
    assembler = RunAssembler()
    with spans.tracer.start_as_current_span("agent", attributes=AGENT):
        with spans.tracer.start_as_current_span("chat", attributes=CHAT):
            pass
    assert [r.root.name for r in assembler.add(spans.take(), now=0.0)] == ["agent"]


def test_agent_under_a_never_ending_parent_goes_out_after_the_grace(spans: Spans) -> None:
    assembler = spans.assembler(hold_grace=5.0, hold_limit=30.0)
    worker = spans.tracer.start_span("worker loop")
    with trace.use_span(worker, end_on_exit=False):
        with spans.tracer.start_as_current_span("agent", attributes=AGENT):
            with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                pass
    assert assembler.add(spans.take(), now=0.0) == []
    assert assembler.expire(now=4.9) == []
    [run] = assembler.expire(now=5.0)
    assert run.root.name == "agent" and not run.partial
    assert names(run.spans) == {"agent", "chat"}
    worker.end()


def test_a_busy_never_ending_parent_delays_a_held_agent_at_most_the_limit(
    spans: Spans,
) -> None:
    assembler = spans.assembler(hold_grace=5.0, hold_limit=30.0)
    worker = spans.tracer.start_span("worker loop")
    released: dict[str, float] = {}
    with trace.use_span(worker, end_on_exit=False):
        for second in range(0, 40, 2):  # a run every two seconds keeps the trace busy
            with spans.tracer.start_as_current_span(f"agent-{second}", attributes=AGENT):
                pass
            runs = assembler.add(spans.take(), now=float(second))
            runs += assembler.expire(now=float(second))
            released.update((r.root.name, float(second)) for r in runs)
    assert released == {f"agent-{s}": s + 30.0 for s in range(0, 10, 2)}
    assert assembler.held_spans == 15
    worker.end()


def test_the_same_spans_exported_twice_make_one_run(spans: Spans) -> None:
    assembler = spans.assembler()
    emit_nested(spans)
    batch = spans.take()
    assert len(assembler.add(batch, now=0.0)) == 1
    assert assembler.add(batch, now=1.0) == []
    assert assembler.add(list(reversed(batch)), now=2.0) == []
    assert assembler.stats.spans_duplicate == 2 * len(batch)
    assert assembler.stats.runs_completed == 1
    assert assembler.stats.late_spans == 0
    assert assembler.buffered_spans == 0


def test_a_span_delivered_twice_while_buffered_is_counted_once(spans: Spans) -> None:
    assembler = spans.assembler()
    root = spans.tracer.start_span("agent", attributes=AGENT)
    with trace.use_span(root, end_on_exit=False):
        with spans.tracer.start_as_current_span("chat", attributes=CHAT):
            pass
    chat = spans.take()
    assembler.add(chat, now=0.0)
    assembler.add(chat, now=0.0)
    root.end()
    [run] = assembler.add(spans.take(), now=0.0)
    assert len(run.spans) == 2
    assert assembler.stats.spans_duplicate == 1


def test_buffered_bytes_are_bounded(spans: Spans) -> None:
    assembler = spans.assembler(max_buffered_bytes=1_000_000)
    big = "x" * 50_000
    root = spans.tracer.start_span("agent", attributes=AGENT)
    runs = []
    with trace.use_span(root, end_on_exit=False):
        for _ in range(40):
            with spans.tracer.start_as_current_span("chat", attributes={**CHAT, "body": big}):
                pass
            runs += assembler.add(spans.take(), now=0.0)
            assert assembler.buffered_bytes <= 1_000_000
    assert runs and all(r.partial for r in runs)
    assert "buffer full" in (runs[0].partial_reason or "")
    assert assembler.stats.traces_evicted == len(runs)
    assert sum(len(r.spans) for r in runs) + assembler.buffered_spans == 40
    root.end()


def test_tracker_does_not_keep_abandoned_spans_alive(spans: Spans) -> None:
    spans.attach()
    big = "x" * 50_000
    refs = []
    with spans.tracer.start_as_current_span("agent", attributes=AGENT):
        for _ in range(200):
            leaked = spans.tracer.start_span("never ends", attributes={"body": big})
            refs.append(weakref.ref(leaked))
            del leaked
    gc.collect()
    assert all(ref() is None for ref in refs)


def test_a_full_tracker_answers_unknown_and_runs_stay_right(spans: Spans) -> None:
    spans.provider = TracerProvider()
    spans.provider.add_span_processor(SimpleSpanProcessor(spans.memory))
    spans.tracer = spans.provider.get_tracer("tests")
    spans.tracker = NestingTracker(max_live=50)
    spans.attach()
    assembler = spans.assembler()
    with spans.tracer.start_as_current_span("outer", attributes=AGENT):
        kept = [spans.tracer.start_span("open") for _ in range(100)]  # alive, never ended
        assert spans.tracker.live_spans <= 50 and spans.tracker.untracked >= 50
        with spans.tracer.start_as_current_span("inner", attributes=AGENT) as inner:
            pass
        context = inner.get_span_context()
        assert spans.tracker.verdict(context.trace_id, context.span_id) is not Nesting.TOP
        assert assembler.add(spans.take(), now=0.0) == []
    runs = assembler.add(spans.take(), now=0.0)
    assert [r.root.name for r in runs] == ["outer"]
    assert names(runs[0].spans) == {"outer", "inner"}
    del kept


def test_answers_wait_within_their_bound_newest_kept(spans: Spans) -> None:
    spans.tracker = NestingTracker(max_answers=5)
    spans.attach()
    contexts = []
    with spans.tracer.start_as_current_span("outer", attributes=AGENT) as outer:
        for index in range(20):
            with spans.tracer.start_as_current_span(f"sub {index}", attributes=AGENT) as sub:
                pass
            contexts.append(sub.get_span_context())
            assert spans.tracker.waiting_answers <= 5
    contexts.append(outer.get_span_context())  # the newest answer: the outer agent's own
    verdicts = [spans.tracker.verdict(c.trace_id, c.span_id) for c in contexts]
    assert verdicts[-5:] == [Nesting.NESTED] * 4 + [Nesting.TOP]
    assert verdicts[:16] == [Nesting.UNKNOWN] * 16  # forgotten: assembly decides for those
    assert spans.tracker.waiting_answers == 0  # each answered once


@pytest.mark.timeout(60)
def test_threads_ending_sub_agents_while_the_exporter_asks(spans: Spans) -> None:
    import threading

    spans.tracker = NestingTracker(max_answers=50)
    spans.attach()
    failures: list[BaseException] = []
    asked: list[Nesting] = []
    done = threading.Event()

    def agent_thread() -> None:
        try:
            with spans.tracer.start_as_current_span("outer", attributes=AGENT):
                for _ in range(1500):
                    with spans.tracer.start_as_current_span("sub", attributes=AGENT) as sub:
                        with spans.tracer.start_as_current_span("chat", attributes=CHAT):
                            pass
                    context = sub.get_span_context()
                    recent.append((context.trace_id, context.span_id))
        except BaseException as exc:  # pragma: no cover - the failure is asserted below
            failures.append(exc)

    recent: list[tuple[int, int]] = []
    threads = [threading.Thread(target=agent_thread) for _ in range(4)]
    for thread in threads:
        thread.start()

    def exporter_thread() -> None:
        try:
            while not done.is_set():
                for key in recent[-20:]:
                    asked.append(spans.tracker.verdict(*key))
                time.sleep(0)  # a bare spin starves the agent threads on a busy machine
        except BaseException as exc:  # pragma: no cover
            failures.append(exc)

    asker = threading.Thread(target=exporter_thread)
    asker.start()
    for thread in threads:
        thread.join(50)
    done.set()
    asker.join(10)
    assert not failures
    assert Nesting.NESTED in asked and Nesting.TOP not in asked
    assert spans.tracker.waiting_answers <= 50 + len(threads)
    assert spans.tracker.live_spans == 0


def test_a_span_under_a_remote_parent_starts_a_chain_even_if_its_id_is_live(
    spans: Spans,
) -> None:
    """A service calling itself: the server span's remote parent has the client span's id."""
    spans.attach()
    with spans.tracer.start_as_current_span("outer", attributes=AGENT) as outer:
        client = outer.get_span_context()
        remote = trace.SpanContext(
            client.trace_id, client.span_id, is_remote=True, trace_flags=client.trace_flags
        )
        context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
        with spans.tracer.start_as_current_span("server agent", context=context, attributes=AGENT):
            pass
        (server,) = [s for s in spans.memory.get_finished_spans() if s.name == "server agent"]
    assert server.parent is not None and server.parent.is_remote
    assert spans.tracker.verdict(server.context.trace_id, server.context.span_id) is Nesting.TOP


class _OtherSpan:
    """A span of another layout: only the public properties, no SDK internals."""

    def __init__(self, real: Span) -> None:
        self.context = real.context
        self.parent = real.parent
        self.attributes = dict(real.attributes or {})


def test_a_span_without_the_sdks_internals_is_tracked_through_its_properties(
    spans: Spans,
) -> None:
    tracker = spans.tracker
    outer = spans.start("outer", **AGENT)
    inner = spans.start("inner", parent=outer, **AGENT)
    for span in (outer, inner):
        tracker.on_start(_OtherSpan(span))  # type: ignore[arg-type]
    inner.end()
    outer.end()
    tracker.ended_all(spans.take())
    assert tracker.verdict(inner.context.trace_id, inner.context.span_id) is Nesting.NESTED
    assert tracker.verdict(outer.context.trace_id, outer.context.span_id) is Nesting.TOP


def test_span_contexts_of_another_layout_leave_every_answer_to_assembly(
    spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nesting, "CONTEXT_IS_TUPLE", False)
    spans.tracker = NestingTracker()
    spans.attach()
    assembler = spans.assembler()
    emit_nested(spans)
    assert spans.tracker.live_spans == 0 and spans.tracker.untracked == 4
    runs = assembler.add(spans.take(), now=0.0)
    assert [r.root.name for r in runs] == ["outer"]
    assert names(runs[0].spans) == {"outer", "middle step", "inner", "chat"}
