"""Trace buffering and run completion.

Spans arrive after they end, children before parents, one run often spread
over several export batches. Assembly buffers them by trace id and hands out a
``Run`` as soon as its root has ended. No I/O, no threads, no clock of its
own: callers pass ``now`` (monotonic seconds) and hold the lock. What is read
of each span (its ids, parent link, attributes, whether the package made it) is
``span_reading``'s job, and how one trace's spans are kept (and their size
estimated) ``trace_buffer``'s; this module decides when they become a run.

Which span is a run's root: the outermost agent-like span of its
process-local tree; with none, the local root (no parent, or a remote one)
when its tree holds GenAI work. An agent span arrives before the spans above
it, so whether it is the outermost is decided like this:

1. No local parent: it is a run root, at once.
2. The nesting tracker, when attached, answers ``NESTED`` (it stays a step of
   the enclosing run) or ``TOP`` (a run root, at once).
3. Otherwise it is held, and the finished tree decides as its ancestors
   arrive: an agent-like ancestor makes it a sub-agent, and so does a
   framework's chain above it (a LangGraph graph, a CrewAI kickoff: one
   invocation, one run, whose root is then the local root); reaching an ended
   local root with no agent-like span on the way makes it a run root (so an
   agent under a plain request span goes out when the request span ends).
4. Its ancestors may never end (a long-lived worker span). A held agent span
   goes out as a run root once its trace has been quiet for ``hold_grace``
   seconds, and at the latest ``hold_limit`` seconds after it arrived. An
   enclosing agent whose kind appears only at its end and that ends later
   than that finds its sub-agent already sent as a run of its own.

Everything held is bounded: a cap on spans and on (estimated) bytes held,
with the oldest trace sent as a partial run when over; a cap per trace; a
time-to-live after which an incomplete tree goes out as a partial run rather
than being lost (with the stand-in root ``partial_root`` chooses). Span ids
already sent are remembered (bounded, ``sent_spans``) so late spans are counted
and duplicates dropped, never sent as a second run.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel.conventions import classify
from infinium_otel.export.nesting import Nesting
from infinium_otel.export.partial_root import LiveLookup, stand_in_root
from infinium_otel.export.sent_spans import SentOfTrace, SentSpans
from infinium_otel.export.span_reading import is_internal_span, read_span
from infinium_otel.export.trace_buffer import (
    _Entry,
    _parent_id,
    _TraceBuffer,
    estimate_span_bytes,
)
from infinium_otel.payload.run import Run

__all__ = ["AssemblyStats", "RunAssembler", "is_internal_span"]

# What the nesting tracker knows about an ended agent span (trace id, span id).
NestedCheck = Callable[[int, int], Nesting]

# A span buffered in this batch and not sized yet: trace id, span id, entry, attributes.
_Unsized = tuple[int, int, _Entry, Mapping[str, Any]]

HOLD_GRACE = 5.0
HOLD_LIMIT = 30.0
MAX_BUFFERED_BYTES = 256 * 1024 * 1024
MAX_REMEMBERED_SPANS = 200_000


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
    spans_duplicate: int = 0


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
        max_remembered_spans: int = MAX_REMEMBERED_SPANS,
        max_buffered_bytes: int = MAX_BUFFERED_BYTES,
        hold_grace: float = HOLD_GRACE,
        hold_limit: float = HOLD_LIMIT,
    ) -> None:
        self._max_buffered = max_buffered_spans
        self._max_bytes = max_buffered_bytes
        self._max_per_trace = max_spans_per_run
        self._ttl = run_ttl
        # A held span goes out before its trace's time-to-live would send it as partial.
        self._hold_grace = min(hold_grace, run_ttl)
        self._hold_limit = min(hold_limit, run_ttl)
        self._nested = nested
        self._live = live
        self._traces: OrderedDict[int, _TraceBuffer] = OrderedDict()
        self._buffered = 0
        self._buffered_bytes = 0
        # Trace ids with held agent spans.
        self._holding: dict[int, None] = {}
        # trace id -> span ids already sent in a run, to recognise late and repeated spans.
        self._sent = SentSpans(max_remembered_traces, max_remembered_spans)
        self.stats = AssemblyStats()
        # The trace of the span buffered last in the current batch, what was sent of it
        # and its buffer (see ``_buffer``); forgotten between batches.
        self._recent_trace: int | None = None
        self._recent_sent: SentOfTrace | None = None
        self._recent_buffer: _TraceBuffer | None = None

    @property
    def buffered_spans(self) -> int:
        return self._buffered

    @property
    def buffered_bytes(self) -> int:
        """The estimated memory of the buffered spans."""
        return self._buffered_bytes

    @property
    def held_spans(self) -> int:
        """Agent spans waiting for their ancestors to tell whether they are sub-agents."""
        return sum(len(self._traces[t].held) for t in self._holding if t in self._traces)

    def add(
        self, spans: Sequence[ReadableSpan], now: float, sizes: Sequence[int] | None = None
    ) -> list[Run]:
        """Buffer a batch of finished spans; return the runs it completes.

        ``sizes``: each span's ``estimate_span_bytes``, when the caller already has it
        (the gateway sizes spans while grouping them), so no span is sized twice.
        Without them, a span is sized only if it is still buffered once the batch's runs
        have left: the byte cap is checked after that, so the spans of a run completed
        within its batch never counted toward it, and sizing them was wasted work."""
        ready: list[tuple[int, _Entry]] = []
        unsized: list[_Unsized] = []
        touched: dict[int, None] = {}
        known: Iterable[int | None] = repeat(None)
        if sizes is not None and len(sizes) == len(spans):
            known = sizes
        self.stats.spans_received += len(spans)
        self._forget_recent()
        for span, size in zip(spans, known):  # noqa: B905 (repeat is endless)
            read = read_span(span)
            if read is None:  # no valid context
                self.stats.spans_dropped_cap += 1
                continue
            trace_id, span_id, parent_id, local_root, attributes, internal = read
            if internal:
                self.stats.spans_internal += 1
                continue
            entry = self._buffer(
                span, trace_id, span_id, parent_id, local_root, attributes, now, size, unsized
            )
            if entry is None:
                continue
            touched[trace_id] = None
            if local_root:
                ready.append((trace_id, entry))
            elif entry.kind.is_agent_like:
                answer = self._nested(trace_id, span_id) if self._nested else Nesting.UNKNOWN
                if answer is Nesting.TOP:
                    ready.append((trace_id, entry))
                elif answer is Nesting.UNKNOWN:
                    self._traces[trace_id].held[span_id] = now
                    self._holding[trace_id] = None
        self._forget_recent()
        for trace_id in touched:
            if trace_id in self._holding:
                ready.extend((trace_id, entry) for entry in self._settle(trace_id))
        runs = self._complete_all(ready)
        self._size_buffered(unsized)
        return runs + self._enforce_global_cap()

    def expire(self, now: float) -> list[Run]:
        """Send held agent spans whose wait is over as runs, and as partial every trace
        idle for longer than the time-to-live."""
        runs = self._complete_all(self._overdue(now))
        while self._traces:
            trace_id, buffer = next(iter(self._traces.items()))
            if now - buffer.last_activity < self._ttl:
                break
            runs.extend(self._evict(trace_id, "root span did not end within the time-to-live"))
        return runs

    def drain(self, reason: str = "exporter flushed before the root span ended") -> list[Run]:
        """Everything still buffered: held agent spans as runs, the rest as partial runs
        (flush and shutdown)."""
        runs = self._complete_all(self._overdue(None))
        for trace_id in list(self._traces):
            runs.extend(self._evict(trace_id, reason))
        return runs

    def clear(self) -> None:
        """Forget everything without sending (a forked child must not resend its parent's)."""
        self._traces.clear()
        self._holding.clear()
        self._sent.clear()
        self._buffered = 0
        self._buffered_bytes = 0

    # -- internals ---------------------------------------------------------

    def _buffer(
        self,
        span: ReadableSpan,
        trace_id: int,
        span_id: int,
        parent_id: int | None,
        local_root: bool,
        attributes: Mapping[str, Any],
        now: float,
        size: int | None,
        unsized: list[_Unsized],
    ) -> _Entry | None:
        """Buffer one span of the application's with a valid context (what ``read_span``
        gives of it); its entry, or None when it is not kept. Without a ``size`` it is
        buffered at size 0 and noted in ``unsized``, to be sized if it stays."""
        buffer: _TraceBuffer | None = None
        if trace_id == self._recent_trace:  # the trace of the span before, in this batch
            sent = self._recent_sent
            buffer = self._recent_buffer
        else:
            sent = self._sent.by_trace.get(trace_id)
        if sent is not None:
            if span_id in sent.span_ids:  # the same span exported again after its run left
                self.stats.spans_duplicate += 1
                return None
            if (parent_id is not None and parent_id in sent.span_ids) or (
                span_id in sent.partial_parents
            ):
                # A child of a sent span, or the missing root of a partial run: too late.
                self._drop_late(trace_id, span_id, sent)
                return None
        if buffer is None:
            buffer = self._traces.get(trace_id)
            if buffer is None:
                buffer = self._traces[trace_id] = _TraceBuffer(now)
            else:
                self._traces.move_to_end(trace_id)
                buffer.last_activity = now
            # Until this batch ends or a late span changes them, the next span of the
            # same trace finds the same buffer, already last and touched at ``now``.
            self._recent_trace = trace_id
            self._recent_sent = sent
            self._recent_buffer = buffer
        if span_id in buffer.entries:  # a duplicate delivery of a span still buffered
            self.stats.spans_duplicate += 1
            return None
        entry = _Entry(span, classify(attributes), size or 0, span_id)
        if (
            len(buffer.entries) >= self._max_per_trace
            and not local_root
            and not entry.kind.is_agent_like
        ):
            buffer.dropped += 1
            self.stats.spans_dropped_cap += 1
            return None
        buffer.entries[span_id] = entry
        if parent_id is not None:
            children = buffer.children.get(parent_id)
            if children is None:
                buffer.children[parent_id] = [span_id]
            else:
                children.append(span_id)
        self._buffered += 1
        if size is None:
            unsized.append((trace_id, span_id, entry, attributes))
        else:
            self._buffered_bytes += size
        return entry

    def _size_buffered(self, unsized: list[_Unsized]) -> None:
        """Size the spans of this batch still buffered (the others left at size 0, which
        is what taking them out subtracted)."""
        for trace_id, span_id, entry, attributes in unsized:
            buffer = self._traces.get(trace_id)
            if buffer is not None and buffer.entries.get(span_id) is entry:
                entry.size = size = estimate_span_bytes(entry.span, attributes)
                self._buffered_bytes += size

    def _forget_recent(self) -> None:
        self._recent_trace = None
        self._recent_sent = None
        self._recent_buffer = None

    def _drop_late(self, trace_id: int, span_id: int, sent: SentOfTrace) -> None:
        """A span whose run already left: count it and its buffered subtree."""
        self._forget_recent()  # its trace's buffer may go, what was sent grows
        self.stats.late_spans += 1
        ids = [span_id]
        buffer = self._traces.get(trace_id)
        if buffer is not None:
            taken = self._take(trace_id, buffer, span_id)
            self.stats.late_spans += len(taken)
            ids.extend(e.span_id for e in taken)
        self._sent.remember(trace_id, sent, ids)

    def _take(self, trace_id: int, buffer: _TraceBuffer, span_id: int) -> list[_Entry]:
        """Remove a subtree from the buffer, keeping the totals right."""
        taken = buffer.take_subtree(span_id)
        self._buffered -= len(taken)
        self._buffered_bytes -= sum(e.size for e in taken)
        if not buffer.held:
            self._holding.pop(trace_id, None)
        if not buffer.entries:
            self._traces.pop(trace_id, None)
            self._holding.pop(trace_id, None)
        return taken

    def _settle(self, trace_id: int) -> list[_Entry]:
        """The held agent spans of a trace that its finished tree now shows to be run roots;
        the ones it shows to be sub-agents are simply no longer held."""
        buffer = self._traces.get(trace_id)
        if buffer is None:
            self._holding.pop(trace_id, None)
            return []
        roots: list[_Entry] = []
        for span_id in list(buffer.held):
            place = buffer.place_of(span_id)
            if place is None:
                continue
            del buffer.held[span_id]
            if place is Nesting.TOP:
                roots.append(buffer.entries[span_id])
        if not buffer.held:
            self._holding.pop(trace_id, None)
        return roots

    def _overdue(self, now: float | None) -> list[tuple[int, _Entry]]:
        """Held agent spans that waited long enough (all of them when ``now`` is None)."""
        due: list[tuple[int, _Entry]] = []
        for trace_id in list(self._holding):
            buffer = self._traces.get(trace_id)
            if buffer is None:
                self._holding.pop(trace_id, None)
                continue
            quiet = now is None or now - buffer.last_activity >= self._hold_grace
            for span_id, since in list(buffer.held.items()):
                if quiet or now is None or now - since >= self._hold_limit:
                    del buffer.held[span_id]
                    due.append((trace_id, buffer.entries[span_id]))
            if not buffer.held:
                self._holding.pop(trace_id, None)
        return due

    def _complete_all(self, ready: list[tuple[int, _Entry]]) -> list[Run]:
        # Inner runs end first: completing in end order keeps nested trees apart.
        ready.sort(key=lambda item: _end_key(item[1]))
        runs: list[Run] = []
        for trace_id, entry in ready:
            run = self._complete(trace_id, entry)
            if run is not None:
                runs.append(run)
        return runs

    def _complete(self, trace_id: int, entry: _Entry) -> Run | None:
        buffer = self._traces.get(trace_id)
        span = entry.span
        span_id = entry.span_id
        if buffer is None or buffer.entries.get(span_id) is not entry:
            return None  # already sent inside another run
        taken = self._take(trace_id, buffer, span_id)
        dropped, buffer.dropped = buffer.dropped, 0
        if not entry.kind.is_agent_like and not any(e.kind.is_genai for e in taken):
            # A plain local root: its leftover tree is a run only if it holds GenAI work.
            self.stats.spans_dropped_no_genai += len(taken)
            return None
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
        sent = self._sent.of(trace_id)
        parents = (
            [pid for e in taken if (pid := _parent_id(e.span)) is not None]
            if partial_reason is not None
            else []
        )
        self._sent.remember(trace_id, sent, [e.span_id for e in taken], parents)
        if partial_reason is None:
            self.stats.runs_completed += 1
        else:
            self.stats.runs_partial += 1
        if dropped:
            reason = f"{dropped} spans over the per-run cap were dropped"
            partial_reason = f"{partial_reason}; {reason}" if partial_reason else reason
        return Run(
            root=root,
            spans=tuple([e.span for e in taken]),
            partial=partial_reason is not None,
            partial_reason=partial_reason,
        )

    def _evict(self, trace_id: int, reason: str) -> list[Run]:
        buffer = self._traces.pop(trace_id, None)
        self._holding.pop(trace_id, None)
        if buffer is None:
            return []
        runs: list[Run] = []
        for group in buffer.top_level_groups():
            taken = [entry for top_id in group for entry in buffer.take_subtree(top_id)]
            self._buffered -= len(taken)
            self._buffered_bytes -= sum(e.size for e in taken)
            if not taken:
                continue
            if not any(e.kind.is_genai for e in taken):
                self.stats.spans_dropped_no_genai += len(taken)
                continue
            root = stand_in_root(trace_id, taken, self._live)
            runs.append(
                self._make_run(trace_id, taken, root, partial_reason=reason, dropped=buffer.dropped)
            )
            buffer.dropped = 0
        # Anything unreachable (cycles in parent links) is counted, never kept.
        leftover = list(buffer.entries.values())
        if leftover:
            self._buffered -= len(leftover)
            self._buffered_bytes -= sum(e.size for e in leftover)
            self.stats.spans_dropped_cap += len(leftover)
        return runs

    def _enforce_global_cap(self) -> list[Run]:
        runs: list[Run] = []
        while (
            self._buffered > self._max_buffered or self._buffered_bytes > self._max_bytes
        ) and self._traces:
            oldest = next(iter(self._traces))
            self.stats.traces_evicted += 1
            runs.extend(self._evict(oldest, "buffer full: sent before the root span ended"))
        return runs
