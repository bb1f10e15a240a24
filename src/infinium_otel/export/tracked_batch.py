"""The batch span processor ``configure()`` installs, carrying the nesting tracker.

The SDK calls every processor of a provider at each span start and end, on the
application's thread. With the tracker as a processor of its own that is two
calls per start and two per end; carried by the batch processor a start costs
one call (the tracker's, instead of the batch processor's empty ``on_start``)
and an end only the batch processor's queueing: the tracker's end bookkeeping
is done by the exporter on its own thread, for each span it receives, before
it asks the tracker anything.

The queueing itself is the SDK's, done with fewer Python steps (``_queue_end``):
so the tracker's start bookkeeping does not make a span cost the application
thread more than a plain ``BatchSpanProcessor`` does.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.span_context_layout import CONTEXT_IS_TUPLE, SAMPLED

__all__ = ["TrackedBatchSpanProcessor"]


class TrackedBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` for an Infinium exporter that also runs its nesting tracker."""

    def __init__(self, exporter: InfiniumSpanExporter, **options: Any) -> None:
        super().__init__(exporter, **options)
        tracker = exporter.nesting_tracker
        self._tracker = tracker
        # The tracker's own method, so a span start costs one call, not two. A span's
        # end is the batch processor's alone: the exporter tells the tracker
        # (``InfiniumSpanExporter.export``), off the application thread.
        self.on_start = tracker.on_start  # type: ignore[method-assign]
        if CONTEXT_IS_TUPLE and _queue_layout_holds(getattr(self, "_batch_processor", None)):
            self.on_end = self._queue_end  # type: ignore[method-assign]

    def add_to(self, provider: TracerProvider) -> None:
        """Add this processor to ``provider``; its tracker then watches ``provider`` through it."""
        provider.add_span_processor(self)
        self._tracker.watched_through(provider)

    def _queue_end(self, span: ReadableSpan) -> None:
        """``BatchSpanProcessor.on_end`` in fewer steps, the same outcome.

        A sampled span joins the SDK's queue and the worker wakes once a batch is
        waiting, as in ``BatchProcessor.emit``. A full queue and a processor shut
        down take the SDK's own path (its log line and drop counters). Its check
        of the process id on every span is left out: the SDK already renews the
        queue and worker in a forked child (``os.register_at_fork``), and where
        that hook does not exist neither does ``fork``.
        """
        try:
            context = span._context
        except AttributeError:  # not the SDK's span: its public property says the same
            context = span.context
        if context is None or not context[3] & SAMPLED:  # [3]: the trace flags
            return
        batch = self._batch_processor
        queue = batch._queue
        if batch._shutdown or len(queue) >= batch._max_queue_size:
            batch.emit(span)
            return
        queue.appendleft(span)
        if len(queue) >= batch._max_export_batch_size:
            awaken = batch._worker_awaken
            if not awaken.is_set():
                awaken.set()


def _queue_layout_holds(batch: object) -> bool:
    """True when the SDK's batch processor keeps what ``_queue_end`` uses, as it uses it.

    Another SDK version may arrange its queue differently: then the processor
    keeps the SDK's own ``on_end``.
    """
    return (
        isinstance(getattr(batch, "_queue", None), collections.deque)
        and isinstance(getattr(batch, "_max_queue_size", None), int)
        and isinstance(getattr(batch, "_max_export_batch_size", None), int)
        and isinstance(getattr(batch, "_worker_awaken", None), threading.Event)
        and isinstance(getattr(batch, "_shutdown", None), bool)
        and callable(getattr(batch, "emit", None))
    )
