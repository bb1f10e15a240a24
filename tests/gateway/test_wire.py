"""Requests parsed with spans' attributes left encoded, and decoded by those bytes."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from opentelemetry.trace import StatusCode

from infinium_otel.conventions.facts import span_attributes
from infinium_otel.export.trace_buffer import estimate_span_bytes
from infinium_otel.gateway import decode, wire
from infinium_otel.gateway.decode import DecodeCache, DecodeLimits, decode_request

from .otlp import as_wire, request, span


def test_the_copied_schema_passes_its_check_and_reads_every_field() -> None:
    assert wire.RAW_REQUEST is not None
    official = request(span(1, attributes={"a": "x", "n": 2}), span(2, 1, name="child"))
    parsed: Any = as_wire(official)
    raw_span = parsed.resource_spans[0].scope_spans[0].spans[0]
    expected = official.resource_spans[0].scope_spans[0].spans[0]
    assert list(raw_span.attributes) == [p.SerializeToString() for p in expected.attributes]
    assert raw_span.status == b""  # unset: empty
    assert raw_span.span_id == expected.span_id and raw_span.name == expected.name
    # The official type itself is untouched.
    assert (
        type(
            ExportTraceServiceRequest()
            .resource_spans.add()
            .scope_spans.add()
            .spans.add()
            .attributes.add()
        )
        is KeyValue
    )


def test_the_grpc_deserializer_parses_as_the_http_listener() -> None:
    official = request(span(1, attributes={"a": "x"}))
    parsed: Any = wire.parse_request(official.SerializeToString())
    assert type(parsed) is wire.RAW_REQUEST
    (made,) = decode_request(parsed).spans
    assert span_attributes(made) == {"a": "x"}
    with pytest.raises(DecodeError):
        wire.parse_request(b"\x0a\x05ab")


@pytest.mark.parametrize(
    "made",
    [
        pytest.param(lambda: ExportTraceServiceRequest, id="a type that parses the pairs"),
        pytest.param(lambda: (_ for _ in ()).throw(TypeError("no")), id="a failing copy"),
    ],
)
def test_when_the_check_fails_requests_are_parsed_with_the_official_type(
    monkeypatch: pytest.MonkeyPatch, made: Any
) -> None:
    monkeypatch.setattr(wire, "raw_attributes_request_type", made)
    assert wire._checked_type() is None
    monkeypatch.setattr(wire, "RAW_REQUEST", None)
    monkeypatch.setattr(decode, "RAW_REQUEST", None)
    parsed = wire.new_request()
    assert type(parsed) is ExportTraceServiceRequest
    official = request(span(1, attributes={"a": "x", "n": 2, "list": ["p", "q"]}))
    parsed.ParseFromString(official.SerializeToString())
    (made_span,) = decode_request(parsed).spans
    assert span_attributes(made_span) == {"a": "x", "n": 2, "list": ("p", "q")}


def test_a_pair_seen_before_is_taken_decoded_and_equal_to_a_parse() -> None:
    cache = DecodeCache()
    attributes = {"gen_ai.operation.name": "chat", "n": 3, "f": 0.5, "list": ["a", "bb"]}
    first = decode_request(as_wire(request(span(1, attributes=attributes))), cache=cache)
    kept = dict(cache.pairs)
    assert len(kept) == 4
    second = decode_request(as_wire(request(span(2, attributes=attributes))), cache=cache)
    parsed = decode_request(request(span(3, attributes=attributes)))
    values = [span_attributes(d.spans[0]) for d in (first, second, parsed)]
    assert values[0] == values[1] == values[2] == {**attributes, "list": ("a", "bb")}
    assert values[0]["gen_ai.operation.name"] is values[1]["gen_ai.operation.name"]
    sizes = [d.batches[0].sizes[0] for d in (first, second, parsed)]
    assert sizes[0] == sizes[1] == sizes[2] == estimate_span_bytes(parsed.spans[0])
    assert cache.pairs == kept


def test_long_pairs_and_cut_values_are_not_kept_and_every_cut_is_counted() -> None:
    cache = DecodeCache()
    limits = DecodeLimits(max_value_chars=12)
    long_pair = {"message": "m" * decode.MAX_KEPT_PAIR_BYTES}
    cut = {"k": "abcdefghijklmnop"}
    for n in (1, 2):
        decoded = decode_request(
            as_wire(request(span(n, attributes={**long_pair, **cut}))), limits, cache=cache
        )
        assert span_attributes(decoded.spans[0]) == {"message": "m" * 12, "k": "abcdefghijkl"}
        assert decoded.values_cut == 2
    assert cache.pairs == {}
    # Another cap: the pairs decoded under the former one are not reused.
    decode_request(as_wire(request(span(1, attributes={"k": "abc"}))), limits, cache=cache)
    assert len(cache.pairs) == 1
    wide = decode_request(as_wire(request(span(1, attributes={"k": "abc"}))), cache=cache)
    assert span_attributes(wide.spans[0]) == {"k": "abc"}
    assert cache.pairs_max_chars == DecodeLimits().max_value_chars


def test_the_kept_pairs_are_bounded() -> None:
    cache = DecodeCache()
    for n in range(decode.MAX_KEPT_PAIRS + 10):
        decode_request(as_wire(request(span(1, attributes={"k": n}))), cache=cache)
    assert 0 < len(cache.pairs) <= decode.MAX_KEPT_PAIRS


@pytest.mark.parametrize("max_attributes", [256, 1])  # without and with the cap's path
def test_a_span_with_a_malformed_pair_is_refused_and_the_others_taken(
    max_attributes: int,
) -> None:
    parsed: Any = as_wire(request(span(1, attributes={"a": "x"}), span(2, 1)))
    spans = parsed.resource_spans[0].scope_spans[0].spans
    spans[1].attributes.append(b"\x0a\x05ab")  # a key shorter than it says
    spans[1].attributes.append(spans[0].attributes[0])
    decoded = decode_request(parsed, DecodeLimits(max_attributes=max_attributes))
    assert [s.context.span_id for s in decoded.spans] == [1]
    assert decoded.rejected == 1
    assert decoded.reasons == {"spans with malformed attributes": 1}


def test_a_span_with_a_malformed_status_is_refused_and_a_set_one_read() -> None:
    parsed: Any = as_wire(
        request(
            span(1, status=Status(code=Status.STATUS_CODE_ERROR, message="boom")),
            span(2, 1, status=Status(code=Status.STATUS_CODE_OK)),
            span(3, 1),
        )
    )
    parsed.resource_spans[0].scope_spans[0].spans[2].status = b"\x12\x09ab"  # cut short
    decoded = decode_request(parsed)
    assert [(s.status.status_code, s.status.description) for s in decoded.spans] == [
        (StatusCode.ERROR, "boom"),
        (StatusCode.OK, None),
    ]
    assert decoded.reasons == {"spans with a malformed status": 1}


@pytest.mark.parametrize(
    "status",
    [
        None,
        Status(code=Status.STATUS_CODE_OK, message="ignored"),
        Status(code=Status.STATUS_CODE_ERROR),
        Status(code=Status.STATUS_CODE_ERROR, message="boom"),
        Status(code=Status.STATUS_CODE_UNSET, message="x"),  # encoded, yet unset
    ],
)
def test_a_status_reads_the_same_encoded_as_parsed(status: Status | None) -> None:
    """An empty encoded status is read as unset without parsing; any other is parsed:
    either way the span's status is what the official type's decoding gives."""
    official = request(span(1, **({"status": status} if status is not None else {})))
    (expected,) = decode_request(official).spans
    (made,) = decode_request(as_wire(official)).spans
    assert made.status.status_code is expected.status.status_code
    assert made.status.description == expected.status.description


def test_empty_keys_empty_values_duplicates_and_the_attribute_cap() -> None:
    made = span(1, attributes={"a": "1", "b": 2, "c": "3"})
    made.attributes.add(key="").value.string_value = "no key"
    made.attributes.add(key="novalue")
    made.attributes.add(key="a").value.string_value = "again"
    expected = [
        (DecodeLimits(), {"a": "again", "b": 2, "c": "3"}, 0),
        (DecodeLimits(max_attributes=3), {"a": "1", "b": 2, "c": "3"}, 3),
    ]
    for limits, attributes, cut in expected:
        for route in (as_wire, lambda r: r):
            cache = DecodeCache()
            for _ in (1, 2):  # the second time from the kept pairs
                decoded = decode_request(route(request(made)), limits, cache=cache)
                assert span_attributes(decoded.spans[0]) == attributes
                assert decoded.attributes_cut == cut
                assert decoded.batches[0].sizes == [estimate_span_bytes(decoded.spans[0])]
