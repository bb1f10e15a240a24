"""Trace buffering and run completion.

Spans arrive after they end, children before parents, one run often spread
over several export batches. Assembly buffers them by trace id and hands out a
``Run`` as soon as its root has ended. Everything it holds is bounded: a cap on
spans held, a cap per trace, and a time-to-live after which an incomplete tree
goes out as a partial run rather than being lost. No I/O, no threads, no clock
of its own: callers pass ``now`` (monotonic seconds) and hold the lock.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from infinium_otel.conventions import SpanKind, classify
from infinium_otel.conventions.facts import span_attributes
from infinium_otel.payload.run import Run

__all__ = ["AssemblyStats", "RunAssembler", "is_internal_span"]

INTERNAL_SCOPE = "infinium_otel.interpretation"

# An agent span is a run root unless this says it ended inside another live agent.
NestedCheck = Callable[[int, int], bool]
# A still-open span by span id (a partial run's missing root), when known.
LiveLookup = Callable[[int], "ReadableSpan | None"]

PARTIAL_ROOT_NAME = "partial run"


def is_internal_span(span: ReadableSpan) -> bool:
    """Spans the package makes itself (interpretation results) never become runs."""
    return _is_internal(span, span_attributes(span))


def _is_internal(span: ReadableSpan, attributes: Mapping[str, Any]) -> bool:
    scope = span.instrumentation_scope
    if scope is not None and scope.name == INTERNAL_SCOPE:
        return True
    return attributes.get("infinium.internal") is True


@dataclasses.dataclass
class AssemblyStats:
    """Counters; the exporter publishes them."""

    spans_received: int = 0
    spans_internal: int = 0
    runs_completed: int = 0
    runs_partial: int = 0
    late_spans: int = 0
    spans_dropped_cap: int = 0
    spans_dropped_no_genai: int = 0
    traces_evicted: int = 0


@dataclasses.dataclass
class _Entry:
    span: ReadableSpan
    kind: SpanKind


@dataclasses.dataclass
class _Sent:
    """What already left for one trace: to recognise spans that arrive too late."""

    span_ids: set[int] = dataclasses.field(default_factory=set)
    # Parents of partial runs' spans that were not in the run (their root never came).
    partial_parents: set[int] = dataclasses.field(default_factory=set)


class _TraceBuffer:
    """The not-yet-sent spans of one trace, indexed by span id and by parent."""

    __slots__ = ("children", "dropped", "entries", "last_activity")

    def __init__(self, now: float) -> None:
        self.entries: dict[int, _Entry] = {}
        self.children: dict[int, list[int]] = {}
        self.last_activity = now
        self.dropped = 0

    def add(self, span_id: int, parent_id: int | None, entry: _Entry) -> None:
        self.entries[span_id] = entry
        if parent_id is not None:
            self.children.setdefault(parent_id, []).append(span_id)

    def take_subtree(self, root_id: int) -> list[_Entry]:
        """Remove and return ``root_id`` and every buffered descendant."""
        taken: list[_Entry] = []
        stack = [root_id]
        while stack:
            span_id = stack.pop()
            entry = self.entries.pop(span_id, None)
            if entry is not None:
                taken.append(entry)
            stack.extend(self.children.pop(span_id, ()))
        return taken

    def top_level_groups(self) -> list[list[int]]:
        """The roots of what is left: each parentless span alone, and siblings whose
        parent never arrived together (they belong to the same missing span)."""
        child_ids = {cid for kids in self.children.values() for cid in kids}
        groups = [[sid] for sid in self.entries if sid not in child_ids]
        for pid, kids in self.children.items():
            if pid not in self.entries:
                present = sorted(
                    (cid for cid in kids if cid in self.entries),
                    key=lambda cid: self.entries[cid].span.start_time or 0,
                )
                if present:
                    groups.append(present)
        return groups


def _parent_id(span: ReadableSpan) -> int | None:
    parent = span.parent
    if parent is None or not parent.is_valid:
        return None
    return parent.span_id


def _is_local_root(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is None or not parent.is_valid or parent.is_remote


def _end_key(entry: _Entry) -> tuple[int, int]:
    span = entry.span
    return (span.end_time or 0, span.context.span_id if span.context else 0)


class RunAssembler:
    """Turns a stream of finished spans into finished runs."""

    def __init__(
        self,
        *,
        max_buffered_spans: int = 100_000,
        max_spans_per_run: int = 10_000,
        run_ttl: float = 300.0,
        nested: NestedCheck | None = None,
        live: LiveLookup | None = None,
        max_remembered_traces: int = 4_096,
    ) -> None:
        self._max_buffered = max_buffered_spans
        self._max_per_trace = max_spans_per_run
        self._ttl = run_ttl
        self._nested = nested
        self._live = live
        self._traces: OrderedDict[int, _TraceBuffer] = OrderedDict()
        self._buffered = 0
        # trace id -> span ids already sent in a run, to recognise late spans.
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._max_remembered = max_remembered_traces
        self.stats = AssemblyStats()

    @property
    def buffered_spans(self) -> int:
        return self._buffered

    def add(self, spans: Sequence[ReadableSpan], now: float) -> list[Run]:
        """Buffer a batch of finished spans; return the runs it completes."""
        candidates: list[tuple[int, _Entry]] = []
        for span in spans:
            entry = self._buffer(span, now)
            if entry is not None and self._may_complete(entry):
                candidates.append((span.context.trace_id, entry))
        runs: list[Run] = []
        # Inner runs end first: completing in end order keeps nested trees apart.
        candidates.sort(key=lambda item: _end_key(item[1]))
        for trace_id, entry in candidates:
            run = self._complete(trace_id, entry)
            if run is not None:
                runs.append(run)
        runs.extend(self._enforce_global_cap())
        return runs

    def expire(self, now: float) -> list[Run]:
        """Send as partial every trace idle for longer than the time-to-live."""
        runs: list[Run] = []
        while self._traces:
            trace_id, buffer = next(iter(self._traces.items()))
            if now - buffer.last_activity < self._ttl:
                break
            runs.extend(self._evict(trace_id, "root span did not end within the time-to-live"))
        return runs

    def drain(self, reason: str = "exporter flushed before the root span ended") -> list[Run]:
        """Everything still buffered, as partial runs (flush and shutdown)."""
        runs: list[Run] = []
        for trace_id in list(self._traces):
            runs.extend(self._evict(trace_id, reason))
        return runs

    def clear(self) -> None:
        """Forget everything without sending (a forked child must not resend its parent's)."""
        self._traces.clear()
        self._sent.clear()
        self._buffered = 0

    # -- internals ---------------------------------------------------------

    def _buffer(self, span: ReadableSpan, now: float) -> _Entry | None:
        self.stats.spans_received += 1
        context = span.context
        if context is None or not context.is_valid:
            self.stats.spans_dropped_cap += 1
            return None
        attributes = span_attributes(span)
        if _is_internal(span, attributes):
            self.stats.spans_internal += 1
            return None
        trace_id, span_id = context.trace_id, context.span_id
        parent_id = _parent_id(span)
        sent = self._sent.get(trace_id)
        if (
            sent is not None
            and parent_id != span_id
            and (
                (parent_id is not None and parent_id in sent.span_ids)
                or span_id in sent.partial_parents
            )
        ):
            # A child of a sent span, or the missing root of a partial run: too late.
            self._drop_late(trace_id, span_id, sent)
            return None
        buffer = self._traces.get(trace_id)
        if buffer is None:
            buffer = self._traces[trace_id] = _TraceBuffer(now)
        else:
            self._traces.move_to_end(trace_id)
            buffer.last_activity = now
        entry = _Entry(span, classify(attributes))
        if (
            len(buffer.entries) >= self._max_per_trace
            and not _is_local_root(span)
            and not entry.kind.is_agent_like
        ):
            buffer.dropped += 1
            self.stats.spans_dropped_cap += 1
            return None
        if span_id in buffer.entries:  # a duplicate delivery of the same span
            return None
        buffer.add(span_id, parent_id if parent_id != span_id else None, entry)
        self._buffered += 1
        return entry

    def _drop_late(self, trace_id: int, span_id: int, sent: _Sent) -> None:
        """A span whose run already left: count it and its buffered subtree."""
        sent.span_ids.add(span_id)
        self.stats.late_spans += 1
        buffer = self._traces.get(trace_id)
        if buffer is not None:
            for entry in buffer.take_subtree(span_id):
                self.stats.late_spans += 1
                self._buffered -= 1
                if entry.span.context is not None:
                    sent.span_ids.add(entry.span.context.span_id)
            self._discard_if_empty(trace_id, buffer)

    def _may_complete(self, entry: _Entry) -> bool:
        return entry.kind.is_agent_like or _is_local_root(entry.span)

    def _complete(self, trace_id: int, entry: _Entry) -> Run | None:
        buffer = self._traces.get(trace_id)
        span = entry.span
        span_id = span.context.span_id
        if buffer is None or span_id not in buffer.entries:
            return None
        if entry.kind.is_agent_like and not _is_local_root(span):
            if self._nested is not None and self._nested(trace_id, span_id):
                return None  # a sub-agent: it belongs to the enclosing run
        elif not entry.kind.is_agent_like:
            # A plain local root: its leftover tree is a run only if it holds GenAI work.
            taken = buffer.take_subtree(span_id)
            self._buffered -= len(taken)
            self._discard_if_empty(trace_id, buffer)
            if not any(e.kind.is_genai for e in taken):
                self.stats.spans_dropped_no_genai += len(taken)
                return None
            return self._make_run(trace_id, taken, span, dropped=buffer.dropped)
        taken = buffer.take_subtree(span_id)
        self._buffered -= len(taken)
        dropped = buffer.dropped
        buffer.dropped = 0
        self._discard_if_empty(trace_id, buffer)
        return self._make_run(trace_id, taken, span, dropped=dropped)

    def _make_run(
        self,
        trace_id: int,
        taken: list[_Entry],
        root: ReadableSpan,
        *,
        partial_reason: str | None = None,
        dropped: int = 0,
    ) -> Run:
        sent = self._sent.get(trace_id)
        if sent is None:
            sent = self._sent[trace_id] = _Sent()
            while len(self._sent) > self._max_remembered:
                self._sent.popitem(last=False)
        else:
            self._sent.move_to_end(trace_id)
        sent.span_ids.update(e.span.context.span_id for e in taken if e.span.context is not None)
        if partial_reason is not None:
            sent.partial_parents.update(
                pid for e in taken if (pid := _parent_id(e.span)) is not None
            )
        if partial_reason is None:
            self.stats.runs_completed += 1
        else:
            self.stats.runs_partial += 1
        if dropped:
            reason = f"{dropped} spans over the per-run cap were dropped"
            partial_reason = f"{partial_reason}; {reason}" if partial_reason else reason
        return Run(
            root=root,
            spans=tuple(e.span for e in taken),
            partial=partial_reason is not None,
            partial_reason=partial_reason,
        )

    def _evict(self, trace_id: int, reason: str) -> list[Run]:
        buffer = self._traces.pop(trace_id, None)
        if buffer is None:
            return []
        runs: list[Run] = []
        for group in buffer.top_level_groups():
            taken = [entry for top_id in group for entry in buffer.take_subtree(top_id)]
            self._buffered -= len(taken)
            if not taken:
                continue
            if not any(e.kind.is_genai for e in taken):
                self.stats.spans_dropped_no_genai += len(taken)
                continue
            root = self._stand_in_root(trace_id, taken)
            runs.append(
                self._make_run(trace_id, taken, root, partial_reason=reason, dropped=buffer.dropped)
            )
            buffer.dropped = 0
        # Anything unreachable (cycles in parent links) is counted, never kept.
        leftover = len(buffer.entries)
        if leftover:
            self._buffered -= leftover
            self.stats.spans_dropped_cap += leftover
        return runs

    def _stand_in_root(self, trace_id: int, taken: list[_Entry]) -> ReadableSpan:
        """The root of a partial run: its missing parent as it is now, or a synthetic span.

        Never one of the run's own spans: that span would then be the root and
        not a step, and its own work (an LLM call, say) would vanish from the run.
        """
        top = taken[0].span
        parent_id = _parent_id(top)
        if parent_id is None:
            return top  # a parentless span really is the top of its tree
        if self._live is not None:
            live = self._live(parent_id)
            if live is not None and live.context is not None:
                return live
        starts = [e.span.start_time for e in taken if e.span.start_time is not None]
        ends = [e.span.end_time for e in taken if e.span.end_time is not None]
        parent = top.parent
        return ReadableSpan(
            name=PARTIAL_ROOT_NAME,
            context=SpanContext(
                trace_id,
                parent_id,
                is_remote=False,
                trace_flags=parent.trace_flags if parent is not None else TraceFlags(1),
            ),
            resource=top.resource,
            attributes={},
            start_time=min(starts) if starts else None,
            end_time=max(ends) if ends else None,
            instrumentation_scope=top.instrumentation_scope,
        )

    def _enforce_global_cap(self) -> list[Run]:
        runs: list[Run] = []
        while self._buffered > self._max_buffered and self._traces:
            oldest = next(iter(self._traces))
            self.stats.traces_evicted += 1
            runs.extend(self._evict(oldest, "buffer full: sent before the root span ended"))
        return runs

    def _discard_if_empty(self, trace_id: int, buffer: _TraceBuffer) -> None:
        if not buffer.entries:
            self._traces.pop(trace_id, None)
