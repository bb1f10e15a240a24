"""OTLP protobuf trace requests parsed with each span's attributes left encoded.

Reading a parsed ``KeyValue`` costs three wrapper objects (the pair, its value and
the string), about 0.45 us per attribute before any work is done. Spans of a run
repeat most of their pairs (operation, provider, model and tool names, small
counts), so the gateway parses requests with a copy of the OTLP schema in which
``Span.attributes`` is ``repeated bytes``: the same wire format (a length-delimited
field either way), each pair arrives as its encoded bytes, and decoding looks a
pair up by those bytes before parsing it (``decode.py``). ``Span.status`` is
``bytes`` the same way: most spans have none, and an empty string costs less to
read than a message wrapper; a status that is set is parsed by the decoder.

Only the span's own attributes and status change; resources, scopes, events and
links are the official messages. The copy is made from the installed schema at import and used
only while a check there finds it reads a request exactly as the official type
does, except for the attributes it leaves encoded; otherwise requests are parsed
with the official type, as before.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

__all__ = ["RAW_REQUEST", "new_request", "parse_request", "raw_attributes_request_type"]

_REQUEST = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
# The span's fields left encoded: its attributes (each pair) and its status.
ENCODED_FIELDS = ("attributes", "status")


def _file(module: Any) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def raw_attributes_request_type() -> type[Message]:
    """``ExportTraceServiceRequest`` as a new class whose spans hold their attributes
    as encoded ``KeyValue`` bytes and their status as its encoding (a pool of its own:
    the official types are untouched)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file(common_pb2))
    pool.Add(_file(resource_pb2))
    trace = _file(trace_pb2)
    (span,) = (message for message in trace.message_type if message.name == "Span")
    for field in span.field:
        if field.name in ENCODED_FIELDS:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
            field.ClearField("type_name")
    pool.Add(trace)
    pool.Add(_file(trace_service_pb2))
    made: type[Message] = message_factory.GetMessageClass(pool.FindMessageTypeByName(_REQUEST))
    return made


def _sample() -> trace_service_pb2.ExportTraceServiceRequest:
    """A request using every level the decoder reads, with two span attributes."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "s"
    resource_spans.schema_url = "r"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "scope"
    scope_spans.scope.attributes.add(key="k").value.int_value = 3
    span = scope_spans.spans.add(
        trace_id=b"\1" * 16,
        span_id=b"\2" * 8,
        parent_span_id=b"\3" * 8,
        name="n",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        flags=0x301,
        trace_state="a=b",
    )
    span.attributes.add(key="a").value.string_value = "x"
    span.attributes.add(key="b").value.array_value.values.add().int_value = 7
    event = span.events.add(name="e", time_unix_nano=1)
    event.attributes.add(key="c").value.bool_value = True
    link = span.links.add(trace_id=b"\4" * 16, span_id=b"\5" * 8, flags=0x300)
    link.attributes.add(key="d").value.double_value = 0.5
    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    span.status.message = "m"
    return request


def _reads_as_official(made: type[Message]) -> bool:
    """Whether ``made`` parses the sample as the official type does, the span's
    attributes and status aside, and gives those as their exact encodings, in order."""
    official = _sample()
    body = official.SerializeToString()
    parsed: Any = made.FromString(body)
    span: Any = parsed.resource_spans[0].scope_spans[0].spans[0]
    expected = official.resource_spans[0].scope_spans[0].spans[0]
    if list(span.attributes) != [pair.SerializeToString() for pair in expected.attributes]:
        return False
    if span.status != expected.status.SerializeToString() or not span.status:
        return False
    if made().resource_spans.add().scope_spans.add().spans.add().status != b"":
        return False  # an unset status reads as empty
    del expected.attributes[:]
    expected.ClearField("status")
    del span.attributes[:]
    span.ClearField("status")
    return bool(
        parsed.SerializeToString(deterministic=True)
        == official.SerializeToString(deterministic=True)
    )


def _checked_type() -> type[Message] | None:
    try:
        made = raw_attributes_request_type()
        return made if _reads_as_official(made) else None
    except Exception:  # another protobuf or schema: the official type is used
        return None


# The type requests are parsed with, spans' attributes left encoded; None: the official.
RAW_REQUEST = _checked_type()


def new_request() -> Message:
    """An empty request to parse an OTLP protobuf body into: spans' attributes and
    status left encoded when the check at import passed, else the official type."""
    if RAW_REQUEST is not None:
        return RAW_REQUEST()
    return trace_service_pb2.ExportTraceServiceRequest()


def parse_request(body: bytes) -> Message:
    """``body``, an encoded OTLP trace request, parsed as ``new_request`` would
    (``DecodeError`` when it is not one): the gRPC listener's deserializer."""
    request = new_request()
    request.ParseFromString(body)
    return request
