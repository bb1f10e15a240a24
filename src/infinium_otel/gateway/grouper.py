"""Spans from many requests grouped by trace id, handed over as whole traces.

Like the Collector's ``groupbytrace``: a trace is handed over once no span of it
has arrived for ``wait`` seconds and its root (a span with no parent) is here;
a trace whose root never comes here (its first service does not send to this
gateway) is handed over after ``orphan_wait`` quiet seconds. Bounded: when the
traces or estimated bytes held pass their caps, or one trace reaches its span
cap, the oldest (or that) trace is handed over early, and counted. A span whose
parent is remote but present in the same group (a call from another service)
gets a local parent, so the exporter's assembly keeps it inside its run.

No threads and no clock of its own: callers pass ``now`` and hold no lock; the
grouper has its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

from infinium_otel.conventions.facts import span_attributes
from infinium_otel.export.trace_buffer import estimate_span_bytes
from infinium_otel.gateway.decode import TraceBatch

__all__ = ["GrouperStats", "HeldTrace", "TraceGrouper"]


class HeldTrace(list[ReadableSpan]):
    """One trace's spans as handed over, with ``sizes``: each span's
    ``estimate_span_bytes``, computed once here and passed on to the exporter's
    assembly so it does not size them again."""

    __slots__ = ("sizes",)

    def __init__(self, spans: list[ReadableSpan], sizes: list[int]) -> None:
        super().__init__(spans)
        self.sizes = sizes


@dataclass
class GrouperStats:
    """Counters published in ``/stats``."""

    spans_accepted: int = 0
    spans_handed_over: int = 0
    traces_handed_over: int = 0
    traces_handed_early: int = 0
    parents_made_local: int = 0


@dataclass
class _Group:
    first: float
    last: float
    spans: list[ReadableSpan] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    size: int = 0
    has_root: bool = False
    remote_parents: bool = False  # only then can a parent need making local


class TraceGrouper:
    """Holds spans by trace id until their trace is quiet; bounded in traces, spans, bytes."""

    def __init__(
        self,
        *,
        wait: float = 1.0,
        orphan_wait: float = 10.0,
        max_traces: int = 10_000,
        max_spans_per_trace: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        max_spans: int = 200_000,
    ) -> None:
        if wait <= 0 or orphan_wait < wait:
            raise ValueError("wait must be > 0 and orphan_wait >= wait")
        self.wait = wait
        self.orphan_wait = orphan_wait
        self._max_traces = max_traces
        self._max_per_trace = max_spans_per_trace
        self._max_bytes = max_bytes
        self._max_spans = max_spans
        self._groups: OrderedDict[int, _Group] = OrderedDict()
        self._spans = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self.stats = GrouperStats()
        # Set by ``due``: when the next trace held then can be due (None: none held).
        self.next_due: float | None = None

    @property
    def held_spans(self) -> int:
        return self._spans

    @property
    def held_traces(self) -> int:
        return len(self._groups)

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def has_room(self, spans: int) -> bool:
        """Whether ``spans`` more fit under the hard span cap (else answer with backpressure)."""
        return self._spans + spans <= self._max_spans

    def add(self, spans: list[ReadableSpan], now: float) -> list[HeldTrace]:
        """Hold ``spans``; return the traces a bound made hand over early."""
        return self.add_batches(batches_of(spans), now)

    def add_batches(self, batches: list[TraceBatch], now: float) -> list[HeldTrace]:
        """Hold the spans of ``batches`` (a request's, trace by trace, sized); return the
        traces a bound made hand over early."""
        early: list[HeldTrace] = []
        with self._lock:
            for batch in batches:
                self._add_batch(batch, now, early)
            while self._groups and (
                len(self._groups) > self._max_traces or self._bytes > self._max_bytes
            ):
                early.append(self._take(next(iter(self._groups)), early=True))
        return early

    def _add_batch(self, batch: TraceBatch, now: float, early: list[HeldTrace]) -> None:
        trace_id, spans, sizes = batch.trace_id, batch.spans, batch.sizes
        self.stats.spans_accepted += len(spans)
        start = 0
        while start < len(spans):
            group = self._groups.get(trace_id)
            if group is None:
                group = self._groups[trace_id] = _Group(now, now)
            else:
                self._groups.move_to_end(trace_id)
                group.last = now
            # Up to the per-trace cap; a trace that reaches it is handed over early and
            # the rest of the batch starts a new group.
            stop = min(len(spans), start + self._max_per_trace - len(group.spans))
            if start == 0 and stop == len(spans):
                part, part_sizes = spans, sizes
                has_root, remote_parents = batch.has_root, batch.remote_parents
            else:
                part, part_sizes = spans[start:stop], sizes[start:stop]
                has_root, remote_parents = _parents_of(part)
            size = sum(part_sizes)
            group.spans += part
            group.sizes += part_sizes
            group.size += size
            group.has_root = group.has_root or has_root
            group.remote_parents = group.remote_parents or remote_parents
            self._spans += len(part)
            self._bytes += size
            if len(group.spans) >= self._max_per_trace:
                early.append(self._take(trace_id, early=True))
            start = stop

    def due(self, now: float) -> list[HeldTrace]:
        """The traces quiet long enough: ``wait`` with their root here, else ``orphan_wait``.

        Also sets ``next_due``: the earliest time another trace held now can be due."""
        ready: list[int] = []
        with self._lock:
            upcoming = float("inf")
            for trace_id, group in self._groups.items():  # oldest activity first
                quiet = now - group.last
                if quiet < self.wait:
                    upcoming = min(upcoming, group.last + self.wait)
                    break
                if group.has_root or quiet >= self.orphan_wait:
                    ready.append(trace_id)
                else:
                    upcoming = min(upcoming, group.last + self.orphan_wait)
            self.next_due = upcoming if upcoming != float("inf") else None
            return [self._take(trace_id, early=False) for trace_id in ready]

    def drain(self) -> list[HeldTrace]:
        """Every trace held (shutdown)."""
        with self._lock:
            return [self._take(trace_id, early=False) for trace_id in list(self._groups)]

    def _take(self, trace_id: int, *, early: bool) -> HeldTrace:
        group = self._groups.pop(trace_id)
        self._spans -= len(group.spans)
        self._bytes -= group.size
        self.stats.spans_handed_over += len(group.spans)
        self.stats.traces_handed_over += 1
        if early:
            self.stats.traces_handed_early += 1
        if not group.remote_parents:
            return HeldTrace(group.spans, group.sizes)
        spans, changed = with_local_parents(group.spans)  # same order, same sizes
        self.stats.parents_made_local += changed
        return HeldTrace(spans, group.sizes)


def batches_of(spans: list[ReadableSpan]) -> list[TraceBatch]:
    """``spans`` as the grouper takes them: runs of one trace, each span sized."""
    batches: list[TraceBatch] = []
    batch: TraceBatch | None = None
    for span in spans:
        trace_id = span.context.trace_id if span.context else 0
        if batch is None or batch.trace_id != trace_id:
            batch = TraceBatch(trace_id)
            batches.append(batch)
        batch.spans.append(span)
        batch.sizes.append(estimate_span_bytes(span, span_attributes(span)))
        parent = span.parent
        if parent is None:
            batch.has_root = True
        elif parent.is_remote:
            batch.remote_parents = True
    return batches


def _parents_of(spans: list[ReadableSpan]) -> tuple[bool, bool]:
    """Whether one of ``spans`` is a root, and whether one has a remote parent."""
    parents = [span.parent for span in spans]
    return (
        any(parent is None for parent in parents),
        any(parent is not None and parent.is_remote for parent in parents),
    )


def with_local_parents(spans: list[ReadableSpan]) -> tuple[list[ReadableSpan], int]:
    """Spans whose remote parent is among ``spans`` get a local parent; and how many did."""
    ids = {span.context.span_id for span in spans if span.context is not None}
    result: list[ReadableSpan] = []
    changed = 0
    for span in spans:
        parent = span.parent
        if parent is not None and parent.is_remote and parent.span_id in ids:
            result.append(_reparented(span, parent))
            changed += 1
        else:
            result.append(span)
    return result, changed


def _reparented(span: ReadableSpan, parent: SpanContext) -> ReadableSpan:
    local = SpanContext(
        parent.trace_id,
        parent.span_id,
        is_remote=False,
        trace_flags=parent.trace_flags,
        trace_state=parent.trace_state,
    )
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=local,
        resource=span.resource,
        # As held (decoded spans: ``SpanAttributes``), not the read-only proxy over them.
        attributes=getattr(span, "_attributes", None) or span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
