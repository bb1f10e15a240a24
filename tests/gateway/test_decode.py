"""OTLP protobuf into SDK spans: a table of requests in, span fields out."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.trace import SpanKind, StatusCode

from infinium_otel.conventions.facts import span_attributes
from infinium_otel.gateway import decode
from infinium_otel.gateway.decode import DecodeCache, DecodeLimits, decode_request
from infinium_otel.gateway.grouper import with_local_parents
from infinium_otel.gateway.otlp_json import MalformedRequest, parse_json_request

from .otlp import START, TRACE, request, span


def test_ids_resource_scope_kind_times_and_status() -> None:
    decoded = decode_request(
        request(
            span(
                1,
                name="root",
                kind=Span.SPAN_KIND_SERVER,
                status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
            ),
            service="billing",
        )
    )
    assert decoded.rejected == 0
    (made,) = decoded.spans
    assert made.context.trace_id == int.from_bytes(TRACE, "big")
    assert made.context.span_id == 1
    assert made.parent is None
    assert made.name == "root"
    assert made.kind is SpanKind.SERVER
    assert made.start_time == START and made.end_time == START + 1_000
    assert made.status.status_code is StatusCode.ERROR
    assert made.status.description == "boom"
    assert made.resource.attributes["service.name"] == "billing"
    assert made.instrumentation_scope.name == "tests.gateway"


@pytest.mark.parametrize(
    ("flags", "remote"),
    [
        (0, False),  # unknown: a parent id alone says nothing, so local
        (0x100, False),  # known, local
        (0x300, True),  # known, remote
        (0x200, False),  # bit 9 without bit 8 is not a claim
    ],
)
def test_parent_remoteness_from_span_flags(flags: int, remote: bool) -> None:
    (made,) = decode_request(request(span(2, 1, flags=flags))).spans
    assert made.parent is not None
    assert made.parent.span_id == 1
    assert made.parent.is_remote is remote


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ("", ""),  # an empty string is still a string
        (True, True),
        (7, 7),
        (2.5, 2.5),
        (["a", "b"], ("a", "b")),
        ([1, 2], (1, 2)),
        ([1, 2.5], (1.0, 2.5)),
        ([True, False], (True, False)),
        (["a", 1], '["a",1]'),
        ({"k": "v", "n": [1]}, '{"k":"v","n":[1]}'),
        (b"\x00\x01", "AAE="),
    ],
)
def test_attribute_values(value: object, expected: object) -> None:
    (made,) = decode_request(request(span(1, attributes={"a": value}))).spans
    assert made.attributes["a"] == expected


def test_spans_of_interleaved_traces_keep_their_own_trace_ids() -> None:
    other = b"\x07" * 16
    spans = decode_request(request(span(1), span(2, trace_id=other), span(3), span(4))).spans
    assert [(s.context.trace_id, s.context.span_id) for s in spans] == [
        (int.from_bytes(TRACE, "big"), 1),
        (int.from_bytes(other, "big"), 2),
        (int.from_bytes(TRACE, "big"), 3),
        (int.from_bytes(TRACE, "big"), 4),
    ]


def test_spans_built_by_position_equal_spans_built_by_keyword(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The positional call is used only while the SDK's signature matches; both agree."""
    assert decode._POSITIONAL  # this SDK's ReadableSpan takes them in the expected order
    raw = span(2, 1, name="step", kind=Span.SPAN_KIND_CLIENT, attributes={"a": "b", "n": 3})
    raw.status.code = Status.STATUS_CODE_ERROR
    raw.events.add(time_unix_nano=START + 5, name="e")
    raw.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    (by_position,) = decode_request(request(raw)).spans
    monkeypatch.setattr(decode, "_POSITIONAL", False)
    (by_keyword,) = decode_request(request(raw)).spans
    assert by_position.to_json() == by_keyword.to_json()
    assert by_position.instrumentation_scope == by_keyword.instrumentation_scope
    assert by_position.kind is SpanKind.CLIENT and by_position.attributes == {"a": "b", "n": 3}


def test_events_and_links() -> None:
    raw = span(1)
    event = raw.events.add(time_unix_nano=START + 5, name="gen_ai.choice")
    event.attributes.add(key="index").value.int_value = 0
    raw.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    raw.links.add(trace_id=b"\x01" * 3, span_id=b"\x02" * 8)  # invalid: skipped
    (made,) = decode_request(request(raw)).spans
    assert [(e.name, e.timestamp, dict(e.attributes)) for e in made.events] == [
        ("gen_ai.choice", START + 5, {"index": 0})
    ]
    assert [link.context.span_id for link in made.links] == [int.from_bytes(b"\x02" * 8, "big")]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (span(1, trace_id=b"\x01" * 8), "invalid trace or span id"),
        (span(1, trace_id=b"\x00" * 16), "invalid trace or span id"),
        (Span(trace_id=TRACE, span_id=b"", end_time_unix_nano=5), "invalid trace or span id"),
        (
            Span(trace_id=TRACE, span_id=b"\x01" * 8, parent_span_id=b"\x02", end_time_unix_nano=5),
            "invalid parent",
        ),
        (Span(trace_id=TRACE, span_id=b"\x01" * 8), "without an end time"),
    ],
)
def test_invalid_spans_are_rejected_and_counted(raw: Span, reason: str) -> None:
    decoded = decode_request(request(raw, span(9)))
    assert [s.context.span_id for s in decoded.spans] == [9]
    assert decoded.rejected == 1
    assert reason in decoded.error_message


def test_bounds_cut_and_count() -> None:
    raw = span(1, attributes={f"k{i}": "x" * 50 for i in range(10)})
    for i in range(5):
        raw.events.add(name=f"e{i}", time_unix_nano=START)
    for _ in range(4):
        raw.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    limits = DecodeLimits(max_attributes=3, max_value_chars=20, max_events=2, max_links=1)
    decoded = decode_request(request(raw), limits)
    (made,) = decoded.spans
    assert len(made.attributes) == 3
    assert all(len(str(v)) == 20 for v in made.attributes.values())
    assert len(made.events) == 2 and len(made.links) == 1
    assert decoded.attributes_cut == 7
    assert decoded.values_cut == 3
    assert decoded.events_cut == 3
    assert decoded.links_cut == 3


def test_json_uses_hex_ids_and_decodes_like_protobuf() -> None:
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE.hex(),
                                "spanId": "0000000000000002",
                                "parentSpanId": "0000000000000001",
                                "name": "child",
                                "kind": "SPAN_KIND_CLIENT",
                                "endTimeUnixNano": "10",
                                "links": [{"traceId": TRACE.hex(), "spanId": "0000000000000003"}],
                                "someFutureField": 1,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    (made,) = decode_request(parse_json_request(json.dumps(body).encode())).spans
    assert made.context.trace_id == int.from_bytes(TRACE, "big")
    assert made.parent is not None and made.parent.span_id == 1
    assert made.kind is SpanKind.CLIENT
    assert made.links[0].context.span_id == 3


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"resourceSpans": {}}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        b'{"resourceSpans": [{"schemaUrl": 5}]}',
    ],
)
def test_malformed_json_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_json_request(body)


def test_spans_of_one_request_share_equal_contexts() -> None:
    """A child's parent context is built once and is its root's own context (same value)."""
    root, child, grandchild = decode_request(request(span(1), span(2, 1), span(3, 1))).spans
    assert child.parent is root.context and grandchild.parent is root.context
    assert root.context is not None and root.context.span_id == 1
    assert root.context.trace_flags.sampled and not root.context.is_remote
    assert child.context is not None and child.context.span_id == 2


def test_resource_and_scope_are_reused_only_for_identical_senders() -> None:
    cache = DecodeCache()
    first = decode_request(request(span(1), service="a"), cache=cache).spans[0]
    again = decode_request(request(span(2), service="a"), cache=cache).spans[0]
    other = decode_request(request(span(3), service="b"), cache=cache).spans[0]
    assert again.resource is first.resource
    assert again.instrumentation_scope is first.instrumentation_scope
    assert other.resource is not first.resource
    assert other.resource.attributes["service.name"] == "b"
    assert first.resource.attributes["service.name"] == "a"


def test_decode_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = DecodeCache(max_entries=8, max_bytes=4_000, max_entry_bytes=2_000)
    for n in range(10):
        decode_request(request(span(1), service=f"svc-{n}"), cache=cache)
    assert len(cache._resources) + len(cache._scopes) <= 8
    for n in range(10):
        decode_request(request(span(1), service=f"{n}" + "x" * 1_500), cache=cache)
    assert 0 < cache.held_bytes <= 4_000
    big = decode_request(request(span(1), service="y" * 5_000), cache=cache).spans[0]
    assert all(len(key) <= 2_000 for key in cache._resources)  # too large: never kept
    assert big.resource.attributes["service.name"] == "y" * 5_000  # but decoded whole


@pytest.mark.parametrize(
    ("status", "code", "description"),
    [
        (None, StatusCode.UNSET, None),
        (Status(code=Status.STATUS_CODE_OK, message="ignored"), StatusCode.OK, None),
        (Status(code=Status.STATUS_CODE_ERROR), StatusCode.ERROR, None),
        (Status(code=Status.STATUS_CODE_UNSET, message="x"), StatusCode.UNSET, None),
    ],
)
def test_status_codes(status: Status | None, code: StatusCode, description: str | None) -> None:
    fields = {"status": status} if status is not None else {}
    (made,) = decode_request(request(span(1, **fields))).spans
    assert made.status.status_code is code
    assert made.status.description == description


def test_events_and_links_absent_are_empty_and_present_are_kept() -> None:
    plain = span(1)
    rich = span(2, 1)
    rich.events.add(name="retry", time_unix_nano=START + 5)
    link = rich.links.add()
    link.trace_id, link.span_id = TRACE, (9).to_bytes(8, "big")
    first, second = decode_request(request(plain, rich)).spans
    assert list(first.events) == [] and list(first.links) == []
    assert [event.name for event in second.events] == ["retry"]
    assert [link.context.span_id for link in second.links] == [9]


def test_decoded_attributes_are_read_by_the_exporter_without_a_copy() -> None:
    """A decoded span holds its attributes as an ended SDK span does, so the exporter's
    readers get the one dict each time (a bare dict there was copied for every read),
    and a span the grouper gives a local parent keeps them so."""
    parent_flags = decode.HAS_IS_REMOTE | decode.IS_REMOTE
    decoded = decode_request(
        request(
            span(1, attributes={"gen_ai.agent.name": "a", "n": 3}),
            span(2, 1, attributes={"tool": "t"}, flags=parent_flags),
        )
    )
    root, child = decoded.spans
    assert dict(root.attributes or {}) == {"gen_ai.agent.name": "a", "n": 3}
    assert root.attributes["n"] == 3 and len(root.attributes) == 2
    first = span_attributes(root)
    assert first == {"gen_ai.agent.name": "a", "n": 3}
    assert span_attributes(root) is first  # no copy
    (local_child,) = [s for s in with_local_parents([root, child])[0] if s.context.span_id == 2]
    assert local_child.parent is not None and not local_child.parent.is_remote
    assert span_attributes(local_child) is span_attributes(child)
    assert dict(local_child.attributes or {}) == {"tool": "t"}
