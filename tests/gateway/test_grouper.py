"""The trace grouper: quiet traces handed over whole, bounds hand over early."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

from infinium_otel.export import assembly
from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.trace_buffer import estimate_span_bytes
from infinium_otel.gateway import decode
from infinium_otel.gateway.decode import decode_request
from infinium_otel.gateway.grouper import TraceGrouper

from . import otlp


def made(
    trace_id: int, span_id: int, parent: int | None = None, remote: bool = False
) -> ReadableSpan:
    return ReadableSpan(
        name=f"s{span_id}",
        context=SpanContext(trace_id, span_id, is_remote=False),
        parent=SpanContext(trace_id, parent, is_remote=remote) if parent else None,
        start_time=1,
        end_time=2,
    )


def ids(group: list[ReadableSpan]) -> list[int]:
    return sorted(s.context.span_id for s in group)


def test_trace_with_its_root_is_handed_over_after_wait_of_quiet() -> None:
    grouper = TraceGrouper(wait=1.0, orphan_wait=5.0)
    grouper.add([made(1, 2, 1)], now=0.0)
    grouper.add([made(1, 1)], now=0.8)  # more spans keep it waiting
    assert grouper.due(1.5) == []
    (group,) = grouper.due(1.8)
    assert ids(group) == [1, 2]
    assert grouper.held_spans == 0 and grouper.stats.traces_handed_over == 1


def test_trace_whose_root_is_elsewhere_waits_orphan_wait() -> None:
    grouper = TraceGrouper(wait=1.0, orphan_wait=5.0)
    grouper.add([made(1, 2, 1, remote=True)], now=0.0)
    assert grouper.due(4.9) == []
    (group,) = grouper.due(5.0)
    assert group[0].parent is not None and group[0].parent.is_remote  # parent not here


def test_remote_parent_present_in_the_group_becomes_local() -> None:
    grouper = TraceGrouper(wait=1.0)
    grouper.add([made(1, 3, 2, remote=True), made(1, 2, 1), made(1, 1)], now=0.0)
    (group,) = grouper.due(1.0)
    by_id = {s.context.span_id: s for s in group}
    assert by_id[3].parent is not None and by_id[3].parent.is_remote is False
    assert by_id[3].parent.span_id == 2
    assert grouper.stats.parents_made_local == 1


def test_over_the_trace_cap_the_oldest_trace_is_handed_over_early() -> None:
    grouper = TraceGrouper(wait=1.0, max_traces=2)
    assert grouper.add([made(1, 1)], now=0.0) == []
    assert grouper.add([made(2, 1)], now=0.1) == []
    (early,) = grouper.add([made(3, 1)], now=0.2)
    assert early[0].context.trace_id == 1
    assert grouper.held_traces == 2 and grouper.stats.traces_handed_early == 1


def test_a_trace_at_its_span_cap_is_handed_over_early() -> None:
    grouper = TraceGrouper(wait=1.0, max_spans_per_trace=3)
    (early,) = grouper.add([made(1, i) for i in range(1, 5)], now=0.0)
    assert ids(early) == [1, 2, 3]
    assert grouper.held_spans == 1


def test_byte_cap_and_hard_span_cap() -> None:
    grouper = TraceGrouper(wait=1.0, max_bytes=1, max_spans=2)
    early = grouper.add([made(1, 1)], now=0.0)
    assert len(early) == 1 and grouper.held_bytes == 0
    grouper = TraceGrouper(wait=1.0, max_spans=2)
    grouper.add([made(1, 1), made(1, 2)], now=0.0)
    assert grouper.has_room(0) and not grouper.has_room(1)


def test_drain_hands_over_everything() -> None:
    grouper = TraceGrouper(wait=1.0)
    grouper.add([made(1, 1), made(2, 5, 4)], now=0.0)
    assert sorted(len(g) for g in grouper.drain()) == [1, 1]
    assert grouper.held_traces == 0
    assert grouper.stats.spans_accepted == grouper.stats.spans_handed_over == 2


def test_due_says_when_the_next_held_trace_can_be_due() -> None:
    """The hand-over thread sleeps until then instead of up to a tick past it."""
    grouper = TraceGrouper(wait=1.0, orphan_wait=5.0)
    assert grouper.due(0.0) == [] and grouper.next_due is None
    grouper.add([made(1, 1)], now=0.0)  # a root: due at 1.0
    grouper.add([made(2, 2, 9, remote=True)], now=0.2)  # an orphan: 1.2 with a root, else 5.2
    assert grouper.due(0.5) == [] and grouper.next_due == 1.0
    (group,) = grouper.due(1.1)
    assert ids(group) == [1] and grouper.next_due == 1.2
    assert grouper.due(1.3) == [] and grouper.next_due == 5.2
    (orphan,) = grouper.due(5.2)
    assert ids(orphan) == [2] and grouper.next_due is None


def test_each_span_is_sized_once_and_assembly_takes_the_sizes_handed_over() -> None:
    """The grouper's sizes travel with the trace; assembly uses them instead of sizing again."""
    spans = [
        ReadableSpan(
            name="child",
            context=SpanContext(7, 2, is_remote=False),
            parent=SpanContext(7, 1, is_remote=True),
            attributes={"gen_ai.prompt": "x" * 500, "tags": ("a", "bb")},
            start_time=1,
            end_time=2,
        ),
        made(7, 1),
    ]
    grouper = TraceGrouper(wait=1.0, orphan_wait=5.0)
    grouper.add(spans, now=0.0)
    (trace,) = grouper.due(1.0)
    assert trace.sizes == [estimate_span_bytes(span) for span in spans]
    assert trace.sizes[0] > trace.sizes[1]  # the attributes counted
    assert grouper.held_bytes == 0

    calls = 0
    original = assembly.estimate_span_bytes

    def counted(span: ReadableSpan, attributes: Any = None) -> int:
        nonlocal calls
        calls += 1
        return original(span, attributes)

    assembly.estimate_span_bytes = counted  # type: ignore[assignment]
    try:
        sized = RunAssembler(run_ttl=60.0)
        sized.add(trace[:1], 0.0, trace.sizes[:1])  # the child waits for its root
        assert calls == 0 and sized.buffered_bytes == trace.sizes[0]
        unsized = RunAssembler(run_ttl=60.0)
        unsized.add(trace[:1], 0.0)  # in-process callers: sized by assembly as before
        assert calls == 1 and unsized.buffered_bytes == trace.sizes[0]
        mismatched = RunAssembler(run_ttl=60.0)
        mismatched.add(trace[:1], 0.0, [1, 2])  # sizes that do not fit are not trusted
        assert calls == 2 and mismatched.buffered_bytes == trace.sizes[0]
    finally:
        assembly.estimate_span_bytes = original  # type: ignore[assignment]


def test_decoded_batches_are_held_as_their_spans_would_be() -> None:
    """A request's batches (sized while decoding) give the same traces, sizes, counts and
    early hand-overs as the spans given one by one, a per-trace cap cutting a batch."""
    trace = b"\x05" * 16
    raw = [
        otlp.span(2, 1, trace_id=trace, attributes={"a": "x" * 40}),
        otlp.span(3, 1, trace_id=trace, flags=decode.HAS_IS_REMOTE | decode.IS_REMOTE),
        otlp.span(1, trace_id=trace, attributes={"n": 1}),
        otlp.span(9, trace_id=b"\x06" * 16),
        otlp.span(4, 1, trace_id=trace),
    ]
    decoded = decode_request(otlp.request(*raw))
    by_spans = TraceGrouper(wait=1.0, max_spans_per_trace=2)
    by_batches = TraceGrouper(wait=1.0, max_spans_per_trace=2)
    early_spans = by_spans.add(decoded.spans, now=0.0)
    early_batches = by_batches.add_batches(decoded.batches, now=0.0)
    assert [ids(t) for t in early_batches] == [ids(t) for t in early_spans] == [[2, 3], [1, 4]]
    assert [t.sizes for t in early_batches] == [t.sizes for t in early_spans]
    assert vars(by_batches.stats) == vars(by_spans.stats)
    assert by_batches.held_bytes == by_spans.held_bytes > 0
    assert by_batches.stats.traces_handed_early == 2
    assert by_batches.held_spans == by_spans.held_spans == 1
    held = [(ids(t), t.sizes) for t in by_batches.drain()]
    assert held == [(ids(t), t.sizes) for t in by_spans.drain()]
    assert [spans for spans, _ in held] == [[9]]
