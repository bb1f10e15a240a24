"""Build OTLP protobuf requests by hand, for the decoding and fault tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
START = 1_700_000_000_000_000_000


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        made = AnyValue()
        made.array_value.values.extend(any_value(v) for v in value)
        return made
    if isinstance(value, dict):
        made = AnyValue()
        made.kvlist_value.values.extend(
            KeyValue(key=k, value=any_value(v)) for k, v in value.items()
        )
        return made
    return AnyValue(string_value=str(value))


def span(
    span_id: int,
    parent: int | None = None,
    *,
    name: str = "span",
    attributes: dict[str, Any] | None = None,
    trace_id: bytes = TRACE,
    end: int = 1_000,
    **fields: Any,
) -> Span:
    made = Span(
        trace_id=trace_id,
        span_id=span_id.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        start_time_unix_nano=START,
        end_time_unix_nano=START + end,
        **fields,
    )
    made.attributes.extend(
        KeyValue(key=k, value=any_value(v)) for k, v in (attributes or {}).items()
    )
    return made


def request(*spans: Span, service: str = "svc") -> ExportTraceServiceRequest:
    made = ExportTraceServiceRequest()
    resource_spans = made.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value=service))
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests.gateway"
    scope_spans.spans.extend(spans)
    return made


def as_wire(made: ExportTraceServiceRequest) -> Any:
    """``made`` parsed as the gateway parses a protobuf body (``wire.new_request``):
    each span's attributes left as their encoded pairs."""
    from infinium_otel.gateway.wire import RAW_REQUEST, new_request

    parsed = new_request()
    parsed.ParseFromString(made.SerializeToString())
    assert RAW_REQUEST is not None and type(parsed) is RAW_REQUEST  # the check passed here
    return parsed
