"""Assembly reads a span's ids from its contexts as tuples when their layout allows it;
the property reading it falls back to must give the same answers for every shape of
parent link."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, TraceFlags

from infinium_otel.export import span_reading
from infinium_otel.export.span_context_layout import CONTEXT_IS_TUPLE

TRACE = 0x1234
SAMPLED = TraceFlags(1)


def made(span_id: int, parent: SpanContext | None, *, trace_id: int = TRACE) -> ReadableSpan:
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=SAMPLED)
    return ReadableSpan(name=f"s{span_id}", context=context, parent=parent)


def sdk_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("links")
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("child"):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_both_readings_agree_on_every_kind_of_parent_link() -> None:
    remote = SpanContext(TRACE, 7, is_remote=True, trace_flags=SAMPLED)
    local = SpanContext(TRACE, 8, is_remote=False, trace_flags=SAMPLED)
    itself = SpanContext(TRACE, 9, is_remote=False, trace_flags=SAMPLED)
    spans = [
        *sdk_spans(),
        made(1, None),
        made(2, remote),
        made(3, local),
        made(9, itself),
        made(4, INVALID_SPAN_CONTEXT),
        made(0, None),  # an invalid span id: no run can hold it
        ReadableSpan(name="no context", context=None),
    ]
    by_property = [span_reading.links_by_property(span) for span in spans]
    assert [span_reading.links_by_index(span) for span in spans] == by_property
    child, root = by_property[0], by_property[1]
    assert root is not None and child is not None
    assert root[2] is None and root[3] and child[2] == root[1] and not child[3]
    assert by_property[2:] == [
        (TRACE, 1, None, True),
        (TRACE, 2, 7, True),  # a remote parent: a local root that still names its parent
        (TRACE, 3, 8, False),
        (TRACE, 9, None, False),  # claims itself as parent: no parent id, not a local root
        (TRACE, 4, None, True),
        None,
        None,
    ]


def test_the_tuple_reading_is_the_one_in_use_where_the_layout_holds() -> None:
    expected = span_reading.links_by_index if CONTEXT_IS_TUPLE else span_reading.links_by_property
    assert span_reading.links is expected
