"""OTLP trace requests become the SDK's ``ReadableSpan`` objects, so the exporter's own
assembly, conversion and delivery handle spans from any language unchanged.

Pure: no I/O, no threads, no clock. Bounded: attributes per span, characters per
value, events and links per span are capped, and every cut is counted, never silent.
A span with invalid ids is refused (counted and reported back to the client as
``rejected_spans``), never guessed at.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

__all__ = ["DecodeLimits", "Decoded", "decode_request"]

# OTLP span flags: bit 8 says whether bit 9 (the parent is remote) is known.
HAS_IS_REMOTE = 0x100
IS_REMOTE = 0x200

_KINDS = {
    ProtoSpan.SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
    ProtoSpan.SPAN_KIND_SERVER: SpanKind.SERVER,
    ProtoSpan.SPAN_KIND_CLIENT: SpanKind.CLIENT,
    ProtoSpan.SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
    ProtoSpan.SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
}
_STATUS = {
    ProtoStatus.STATUS_CODE_OK: StatusCode.OK,
    ProtoStatus.STATUS_CODE_ERROR: StatusCode.ERROR,
}

AttributeValue = str | bool | int | float | tuple[str, ...] | tuple[bool, ...] | tuple[int, ...]


@dataclass(frozen=True)
class DecodeLimits:
    """Caps on what one span may carry; over them, the rest is cut and counted."""

    max_attributes: int = 256
    max_value_chars: int = 64 * 1024
    max_events: int = 256
    max_links: int = 128


@dataclass
class Decoded:
    """The spans of one request, what was refused, and what was cut."""

    spans: list[ReadableSpan] = field(default_factory=list)
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    attributes_cut: int = 0
    values_cut: int = 0
    events_cut: int = 0
    links_cut: int = 0

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def error_message(self) -> str:
        """One line for ``partial_success.error_message``: how many spans and why."""
        return "; ".join(f"{n} {reason}" for reason, n in sorted(self.reasons.items()))


def decode_request(
    request: ExportTraceServiceRequest, limits: DecodeLimits = DecodeLimits()
) -> Decoded:
    """Every span of ``request`` as a ``ReadableSpan``; invalid spans are counted as rejected."""
    out = Decoded()
    reader = _Reader(limits, out)
    for resource_spans in request.resource_spans:
        resource = Resource(
            reader.attributes(resource_spans.resource.attributes),
            schema_url=resource_spans.schema_url or None,
        )
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(
                scope_spans.scope.name,
                scope_spans.scope.version or None,
                scope_spans.schema_url or None,
                reader.attributes(scope_spans.scope.attributes),
            )
            for span in scope_spans.spans:
                readable = reader.span(span, resource, scope)
                if readable is not None:
                    out.spans.append(readable)
    return out


class _Reader:
    def __init__(self, limits: DecodeLimits, out: Decoded) -> None:
        self._limits = limits
        self._out = out

    def span(
        self, span: ProtoSpan, resource: Resource, scope: InstrumentationScope
    ) -> ReadableSpan | None:
        trace_id = _id(span.trace_id, 16)
        span_id = _id(span.span_id, 8)
        if not trace_id or not span_id:
            self._out.reject("spans with an invalid trace or span id")
            return None
        parent: SpanContext | None = None
        if span.parent_span_id:
            parent_id = _id(span.parent_span_id, 8)
            if not parent_id:
                self._out.reject("spans with an invalid parent span id")
                return None
            known = bool(span.flags & HAS_IS_REMOTE)
            parent = SpanContext(
                trace_id,
                parent_id,
                is_remote=bool(span.flags & IS_REMOTE) if known else False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        if not span.end_time_unix_nano:
            self._out.reject("spans without an end time")
            return None
        context = SpanContext(
            trace_id,
            span_id,
            is_remote=False,
            trace_flags=TraceFlags(span.flags & 0xFF or TraceFlags.SAMPLED),
            trace_state=_trace_state(span.trace_state),
        )
        return ReadableSpan(
            name=span.name,
            context=context,
            parent=parent,
            resource=resource,
            attributes=self.attributes(span.attributes),
            events=self.events(span.events),
            links=self.links(span.links),
            kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
            status=Status(
                _STATUS.get(span.status.code, StatusCode.UNSET),
                span.status.message or None
                if span.status.code == ProtoStatus.STATUS_CODE_ERROR
                else None,
            ),
            start_time=span.start_time_unix_nano or span.end_time_unix_nano,
            end_time=span.end_time_unix_nano,
            instrumentation_scope=scope,
        )

    def attributes(self, pairs: Iterable[KeyValue]) -> dict[str, AttributeValue]:
        result: dict[str, AttributeValue] = {}
        for pair in pairs:
            if len(result) >= self._limits.max_attributes:
                self._out.attributes_cut += 1
                continue
            value = self.value(pair.value)
            if value is not None and pair.key:
                result[self.text(pair.key)] = value
        return result

    def events(self, events: Iterable[ProtoSpan.Event]) -> list[Event]:
        result: list[Event] = []
        for event in events:
            if len(result) >= self._limits.max_events:
                self._out.events_cut += 1
                continue
            result.append(
                Event(
                    self.text(event.name),
                    self.attributes(event.attributes),
                    timestamp=event.time_unix_nano or None,
                )
            )
        return result

    def links(self, links: Iterable[ProtoSpan.Link]) -> list[Link]:
        result: list[Link] = []
        for link in links:
            trace_id, span_id = _id(link.trace_id, 16), _id(link.span_id, 8)
            if not trace_id or not span_id:
                continue
            if len(result) >= self._limits.max_links:
                self._out.links_cut += 1
                continue
            context = SpanContext(trace_id, span_id, is_remote=bool(link.flags & IS_REMOTE))
            result.append(Link(context, self.attributes(link.attributes)))
        return result

    def value(self, value: AnyValue) -> AttributeValue | None:
        which = value.WhichOneof("value")
        if which == "string_value":
            return self.text(value.string_value)
        if which == "bool_value":
            return value.bool_value
        if which == "int_value":
            return value.int_value
        if which == "double_value":
            return value.double_value
        if which == "bytes_value":
            return self.text(base64.b64encode(value.bytes_value).decode("ascii"))
        if which == "array_value":
            return self.array([_plain(v) for v in value.array_value.values])
        if which == "kvlist_value":
            return self.text(_json({kv.key: _plain(kv.value) for kv in value.kvlist_value.values}))
        return None

    def array(self, items: list[Any]) -> AttributeValue:
        """A homogeneous array of primitives stays a tuple (as the SDK allows); else JSON."""
        kinds = {type(item) for item in items}
        if kinds == {str}:
            return tuple(self.text(item) for item in items)
        if kinds == {bool}:
            return tuple(items)
        if kinds == {int}:
            return tuple(items)
        if kinds <= {int, float} and kinds:
            return tuple(float(item) for item in items)  # type: ignore[return-value]
        return self.text(_json(items))

    def text(self, text: str) -> str:
        limit = self._limits.max_value_chars
        if len(text) <= limit:
            return text
        self._out.values_cut += 1
        return text[:limit]


def _plain(value: AnyValue) -> Any:
    """An ``AnyValue`` as plain JSON-able Python (nested arrays and maps kept)."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which is None:
        return None
    return getattr(value, which)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _id(raw: bytes, size: int) -> int:
    """The id as an int, or 0 when it has the wrong length or is all zeros."""
    if len(raw) != size:
        return 0
    return int.from_bytes(raw, "big")


def _trace_state(text: str) -> TraceState | None:
    if not text:
        return None
    try:
        return TraceState.from_header([text])
    except Exception:  # a malformed trace state is dropped, the span kept
        return None
