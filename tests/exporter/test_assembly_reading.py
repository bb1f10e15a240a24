"""Assembly's two shortcuts against the general paths they stand in for.

- ``read_span`` reads a span's fields behind ``ReadableSpan``'s properties when its
  class keeps them; ``read_span_by_property`` is the general reading it must agree with.
- Within a batch, the next span of the same trace reuses the buffer (and what was
  sent of the trace) found for the span before; an assembler that looks both up for
  every span must give the same runs and counters.

Each comparison is also run against a deliberately broken shortcut, which it must
catch, so a comparison that stopped looking would show.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, TraceFlags

from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.span_fields import reads_fields
from infinium_otel.export.span_reading import INTERNAL_SCOPE, read_span, read_span_by_property
from infinium_otel.payload.run import Run

TRACE = 0xABC
SAMPLED = TraceFlags(1)
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
AGENT = {"gen_ai.operation.name": "invoke_agent"}


def context(span_id: int, *, trace_id: int = TRACE, remote: bool = False) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=SAMPLED)


class OwnContext(ReadableSpan):
    """A span class answering ``context`` with something else than its field."""

    @property
    def context(self) -> SpanContext:
        return context(77, trace_id=0xDEF)


class OwnScope(InstrumentationScope):
    """A scope class of its own: its name is read through the property."""


def sdk_spans() -> list[ReadableSpan]:
    """Ended SDK spans: a run, an internal one by scope, one flagged internal."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("reading")
    with tracer.start_as_current_span("agent", attributes=AGENT):
        with tracer.start_as_current_span("chat", attributes=CHAT):
            pass
    with provider.get_tracer(INTERNAL_SCOPE).start_as_current_span("own"):
        pass
    with tracer.start_as_current_span("flagged", attributes={"infinium.internal": True}):
        pass
    with tracer.start_as_current_span("flag as text", attributes={"infinium.internal": "true"}):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def every_shape() -> list[ReadableSpan]:
    remote = context(7, remote=True)
    local = context(8)
    scope = InstrumentationScope("lib")
    live = ReadableSpan(name="live", context=context(30), attributes=dict(CHAT))
    return [
        *sdk_spans(),
        ReadableSpan(name="root", context=context(1), attributes=dict(AGENT), end_time=9),
        ReadableSpan(name="remote parent", context=context(2), parent=remote, end_time=9),
        ReadableSpan(name="local parent", context=context(3), parent=local, end_time=9),
        ReadableSpan(name="itself", context=context(9), parent=context(9), end_time=9),
        ReadableSpan(name="bad parent", context=context(4), parent=INVALID_SPAN_CONTEXT),
        ReadableSpan(name="invalid", context=context(0)),
        ReadableSpan(name="no context", context=None),
        ReadableSpan(
            name="internal scope",
            context=context(5),
            instrumentation_scope=InstrumentationScope(INTERNAL_SCOPE),
            end_time=9,
        ),
        ReadableSpan(
            name="own scope class",
            context=context(6),
            instrumentation_scope=OwnScope(INTERNAL_SCOPE),
            end_time=9,
        ),
        ReadableSpan(
            name="plain dict", context=context(10), attributes={"a": 1}, instrumentation_scope=scope
        ),
        ReadableSpan(
            name="ended plain dict",
            context=context(11),
            attributes={"infinium.internal": True},
            end_time=9,
        ),
        live,
        OwnContext(name="own context", context=context(12), parent=local, end_time=9),
    ]


Reader = Callable[[ReadableSpan], Any]


def disagreements(read: Reader, spans: Sequence[ReadableSpan]) -> list[str]:
    """The spans for which ``read`` answers otherwise than the property reading."""
    found = []
    for span in spans:
        if read(span) != read_span_by_property(span):
            found.append(span.name)
    return found


def test_field_reading_agrees_with_property_reading_on_every_shape() -> None:
    spans = every_shape()
    assert disagreements(read_span, spans) == []
    answers = {span.name: read_span(span) for span in spans}
    assert answers["agent"] is not None and answers["agent"][5] is False
    assert answers["own"] is not None and answers["own"][5] is True
    assert answers["flagged"] is not None and answers["flagged"][5] is True
    assert answers["flag as text"] is not None and answers["flag as text"][5] is False
    assert answers["own scope class"] is not None and answers["own scope class"][5] is True
    assert answers["remote parent"] == (TRACE, 2, 7, True, {}, False)
    assert answers["itself"] is not None and answers["itself"][2:4] == (None, False)
    assert answers["no context"] is None and answers["invalid"] is None
    # The overriding class is read through its property.
    assert answers["own context"] is not None and answers["own context"][:2] == (0xDEF, 77)


def test_sdk_span_classes_are_read_by_field_and_overriding_ones_are_not() -> None:
    assert reads_fields(ReadableSpan)
    assert reads_fields(type(sdk_spans()[0]))
    assert not reads_fields(OwnContext)
    assert not reads_fields(dict)


def test_the_comparison_catches_a_broken_field_reading() -> None:
    def ignores_remote_parents(span: ReadableSpan) -> Any:
        read = read_span(span)
        if read is None or span.parent is None:
            return read
        return (*read[:3], not span.parent.is_valid, *read[4:])

    def ignores_the_flag(span: ReadableSpan) -> Any:
        read = read_span(span)
        return read if read is None or span.name != "flagged" else (*read[:5], False)

    spans = every_shape()
    assert "remote parent" in disagreements(ignores_remote_parents, spans)
    assert disagreements(ignores_the_flag, spans) == ["flagged"]


# -- the trace found for the span before ------------------------------------------------


class LooksUpEverySpan(RunAssembler):
    """The general path: what was sent and the buffer are looked up for every span."""

    def _buffer(self, *args: Any, **kwargs: Any) -> Any:
        self._forget_recent()
        return super()._buffer(*args, **kwargs)


class KeepsRecentAfterLateSpans(RunAssembler):
    """A broken shortcut: a late span no longer makes the next one look things up."""

    def _forget_recent(self) -> None:
        if getattr(self, "_in_drop_late", False):
            return
        super()._forget_recent()

    def _drop_late(self, trace_id: int, span_id: int, sent: Any) -> None:
        self._in_drop_late = True
        try:
            super()._drop_late(trace_id, span_id, sent)
        finally:
            self._in_drop_late = False


def traces(rng: random.Random, count: int) -> list[list[ReadableSpan]]:
    """Trees of a few spans each (children before their parents, as spans end)."""
    made = []
    for number in range(count):
        trace_id = 0x1000 + number
        root = ReadableSpan(
            name=f"root {number}",
            context=context(1, trace_id=trace_id),
            attributes=dict(AGENT if number % 2 else CHAT),
            start_time=1,
            end_time=100 + number,
        )
        spans = [root]
        for index in range(rng.randint(1, 6)):
            span_id = 2 + index
            parent_id = rng.randint(1, span_id - 1)
            spans.append(
                ReadableSpan(
                    name=f"span {number}.{span_id}",
                    context=context(span_id, trace_id=trace_id),
                    parent=context(parent_id, trace_id=trace_id),
                    attributes=dict(CHAT),
                    start_time=span_id,
                    end_time=50 + span_id,
                )
            )
        made.append(list(reversed(spans)))
    return made


def stream(rng: random.Random) -> list[list[ReadableSpan]]:
    """Batches mixing traces, with spans repeated and arriving after their run left."""
    trees = traces(rng, 12)
    order = [span for tree in trees for span in tree]
    rng.shuffle(order)
    # Spans sent again, some long after their run left (late and duplicate ones).
    order += rng.sample(order, 15)
    order += [span for tree in trees[:3] for span in tree]
    batches = []
    while order:
        size = rng.randint(1, 9)
        batches.append(order[:size])
        order = order[size:]
    return batches


def outcome(assembler: RunAssembler, batches: list[list[ReadableSpan]]) -> Any:
    def shown(runs: list[Run]) -> list[tuple[str, tuple[str, ...], bool]]:
        return [(run.root.name, tuple(s.name for s in run.spans), run.partial) for run in runs]

    seen = [shown(assembler.add(batch, float(n))) for n, batch in enumerate(batches)]
    seen.append(shown(assembler.drain()))
    return seen, dataclasses.asdict(assembler.stats), assembler.buffered_spans


@pytest.mark.parametrize("seed", range(40))
def test_reusing_the_trace_before_gives_what_looking_up_every_span_gives(seed: int) -> None:
    batches = stream(random.Random(seed))
    assert outcome(RunAssembler(), batches) == outcome(LooksUpEverySpan(), batches)


def test_the_comparison_catches_a_buffer_kept_after_a_late_span() -> None:
    """A late span takes its buffered subtree, possibly the whole buffer, and adds to
    what was sent: the next span of the trace must look both up again."""
    root = ReadableSpan(name="root", context=context(1), attributes=dict(CHAT), end_time=9)
    child = ReadableSpan(name="child", context=context(2), parent=context(1), end_time=8)
    late = ReadableSpan(name="late", context=context(3), parent=context(1), end_time=10)
    under_late = ReadableSpan(name="under", context=context(4), parent=context(3), end_time=9)
    orphan = ReadableSpan(
        name="orphan", context=context(6), parent=context(99), attributes=dict(CHAT), end_time=9
    )
    batches = [[child, root], [under_late, late, under_late, orphan]]
    expected = outcome(LooksUpEverySpan(), batches)
    assert outcome(RunAssembler(), batches) == expected
    assert outcome(KeepsRecentAfterLateSpans(), batches) != expected
    # The late one and the one under it; then that one again, now known as sent.
    assert (expected[1]["late_spans"], expected[1]["spans_duplicate"]) == (2, 1)
    # The orphan's parent never came: it goes out as a partial run when drained.
    assert expected[0][-1] == [("partial run", ("orphan",), True)]
