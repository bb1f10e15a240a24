"""Spans made by the real OpenTelemetry SDK, with explicit times, for conversion tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from infinium_otel.payload.run import Run

BASE_NS = 1_760_000_000 * 1_000_000_000  # 2025-10-09T08:53:20Z
MS = 1_000_000


class Trace:
    """Builds one trace of real SDK spans; times are milliseconds after ``BASE_NS``."""

    def __init__(self, resource: Mapping[str, Any] | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource.create(dict(resource or {"service.name": "test-service"}))
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def start(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        parent: Span | None = None,
        at: float = 0,
        scope: str = "test.app",
        version: str | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Span:
        tracer = self.provider.get_tracer(scope, version)
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(
            name,
            context=context,
            kind=kind,
            attributes=dict(attributes or {}),
            start_time=BASE_NS + int(at * MS),
        )
        assert isinstance(span, Span)
        return span

    def span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        parent: Span | None = None,
        at: float = 0,
        until: float | None = None,
        events: Sequence[tuple[str, Mapping[str, Any]]] = (),
        error: str | None = None,
        exception: BaseException | None = None,
        **options: Any,
    ) -> Span:
        """A span started at ``at`` ms and ended at ``until`` ms (not ended when None)."""
        span = self.start(name, attributes, parent=parent, at=at, **options)
        for event_name, event_attributes in events:
            span.add_event(event_name, dict(event_attributes), timestamp=BASE_NS + int(at * MS))
        if exception is not None:
            span.record_exception(exception)
        if error is not None or exception is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        if until is not None:
            span.end(end_time=BASE_NS + int(until * MS))
        return span

    def finished(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def run(self, root: Span, *, partial: bool = False, reason: str | None = None) -> Run:
        spans = list(self.finished())
        root_id = root.context.span_id
        readable: ReadableSpan = next(
            (s for s in spans if s.context is not None and s.context.span_id == root_id), root
        )
        if readable is root:
            spans.append(root)
        return Run(readable, tuple(spans), partial, reason)
