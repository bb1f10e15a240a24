"""OTLP/JSON bodies into the same protobuf message as binary OTLP.

OTLP/JSON differs from the protobuf JSON mapping in one way that matters: trace
and span ids are hex strings, not base64. They are converted before parsing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["MalformedRequest", "parse_json_request"]

_SPAN_IDS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_LINK_IDS = ("traceId", "trace_id", "spanId", "span_id")


class MalformedRequest(ValueError):
    """The body is not a valid OTLP trace request (answered with 400)."""


def parse_json_request(body: bytes) -> ExportTraceServiceRequest:
    """An OTLP/JSON ``ExportTraceServiceRequest``; ``MalformedRequest`` when it is not one."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequest(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedRequest("body is not a JSON object")
    for resource in _items(document, "resourceSpans", "resource_spans"):
        for scope in _items(resource, "scopeSpans", "scope_spans"):
            for span in _items(scope, "spans"):
                _hex_to_base64(span, _SPAN_IDS)
                for link in _items(span, "links"):
                    _hex_to_base64(link, _LINK_IDS)
    message = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise MalformedRequest(f"not an OTLP trace request: {exc}") from None
    return message


def _items(node: Any, *keys: str) -> list[Any]:
    if not isinstance(node, dict):
        raise MalformedRequest("expected a JSON object in the request")
    for key in keys:
        value = node.get(key)
        if value is not None:
            if not isinstance(value, list):
                raise MalformedRequest(f"{key} must be an array")
            return value
    return []


def _hex_to_base64(node: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(node, dict):
        raise MalformedRequest("a span or link is not a JSON object")
    for key in keys:
        value = node.get(key)
        if isinstance(value, str) and value:
            try:
                node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise MalformedRequest(f"{key} is not hex: {value[:40]!r}") from None
