"""The batch span processor ``configure()`` installs, carrying the nesting tracker.

The SDK calls every processor of a provider at each span start and end, on the
application's thread. With the tracker as a processor of its own that is two
calls per start and two per end; carried by the batch processor a start costs
one call (the tracker's, instead of the batch processor's empty ``on_start``)
and an end only the batch processor's queueing: the tracker's end bookkeeping
is done by the exporter on its own thread, for each span it receives, before
it asks the tracker anything.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from infinium_otel.export.exporter import InfiniumSpanExporter

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

    def add_to(self, provider: TracerProvider) -> None:
        """Add this processor to ``provider``; its tracker then watches ``provider`` through it."""
        provider.add_span_processor(self)
        self._tracker.watched_through(provider)
