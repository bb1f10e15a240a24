"""The batch span processor ``configure()`` installs, carrying the nesting tracker.

The SDK calls every processor of a provider at each span start and end, on the
application's thread. With the tracker as a processor of its own that is two
calls per start and two per end; carried by the batch processor it is one each,
and the batch processor's own (empty) ``on_start`` is not called at all.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from infinium_otel.export.exporter import InfiniumSpanExporter

__all__ = ["TrackedBatchSpanProcessor"]


class TrackedBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` for an Infinium exporter that also runs its nesting tracker."""

    def __init__(self, exporter: InfiniumSpanExporter, **options: Any) -> None:
        super().__init__(exporter, **options)
        tracker = exporter.nesting_tracker
        self._tracker = tracker
        self._track_end = tracker.on_end
        # The tracker's own method, so a span start costs one call, not two.
        self.on_start = tracker.on_start  # type: ignore[method-assign]

    def on_end(self, span: ReadableSpan) -> None:
        self._track_end(span)  # first: its answer is recorded before the span is queued
        super().on_end(span)

    def add_to(self, provider: TracerProvider) -> None:
        """Add this processor to ``provider``; its tracker then watches ``provider`` through it."""
        provider.add_span_processor(self)
        self._tracker.watched_through(provider)
