"""What already left of each trace, so a span that arrives again or too late is
recognised rather than sent as a second run.

A run leaves once its root has ended; a span of it exported again, or a child
that ends after its run left, must then be counted and dropped. Remembering
every sent span id would grow without end, so the oldest traces are forgotten
past a bound on traces and on remembered ids. No locking: the assembler's
caller holds its lock.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["SentOfTrace", "SentSpans"]


@dataclasses.dataclass
class SentOfTrace:
    """What already left for one trace: to recognise spans that arrive again or too late."""

    span_ids: set[int] = dataclasses.field(default_factory=set)
    # Parents of partial runs' spans that were not in the run (their root never came).
    partial_parents: set[int] = dataclasses.field(default_factory=set)

    def __len__(self) -> int:
        return len(self.span_ids) + len(self.partial_parents)


class SentSpans:
    """Per trace, the span ids already sent, oldest trace first, bounded."""

    def __init__(self, max_traces: int, max_spans: int) -> None:
        # Trace id -> what was sent of it; looked up directly by the assembler's hot path.
        self.by_trace: OrderedDict[int, SentOfTrace] = OrderedDict()
        self._remembered = 0
        self._max_traces = max_traces
        self._max_spans = max_spans

    def of(self, trace_id: int) -> SentOfTrace:
        """The trace's record, made when new, now the newest."""
        sent = self.by_trace.get(trace_id)
        if sent is None:
            sent = self.by_trace[trace_id] = SentOfTrace()
        else:
            self.by_trace.move_to_end(trace_id)
        return sent

    def remember(
        self,
        trace_id: int,
        sent: SentOfTrace,
        span_ids: Iterable[int],
        partial_parents: Iterable[int] = (),
    ) -> None:
        """Note span ids as sent, forgetting the oldest traces over the bounds."""
        by_trace = self.by_trace
        before = len(sent)
        sent.span_ids.update(span_ids)
        sent.partial_parents.update(partial_parents)
        self._remembered += len(sent) - before
        while len(by_trace) > 1 and (
            len(by_trace) > self._max_traces or self._remembered > self._max_spans
        ):
            oldest, sent = next(iter(by_trace.items()))
            if oldest == trace_id:
                by_trace.move_to_end(oldest)
                continue
            del by_trace[oldest]
            self._remembered -= len(sent)

    def clear(self) -> None:
        self.by_trace.clear()
        self._remembered = 0
