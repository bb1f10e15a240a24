"""OTLP protobuf into SDK spans: a table of requests in, span fields out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace import Status as SpanStatus
from opentelemetry.trace.span import TraceState

from infinium_otel.conventions.facts import span_attributes
from infinium_otel.export.trace_buffer import estimate_span_bytes
from infinium_otel.gateway import decode, span_making
from infinium_otel.gateway.decode import DecodeCache, DecodeLimits, decode_request
from infinium_otel.gateway.grouper import with_local_parents
from infinium_otel.gateway.otlp_json import MalformedRequest, parse_json_request

from .otlp import START, TRACE, as_wire, request, span


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


def sdk_spans() -> list[ReadableSpan]:
    """Spans made by the real SDK: every attribute kind, events, links, a trace state, a
    remote parent, an error status, two traces interleaved, a child ending first."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "decode-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.decode", "1.2")
    remote = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C,
        0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value")]),
    )
    attributes = {
        "text": "x" * 300,
        "empty": "",
        "flag": True,
        "count": 7,
        "ratio": 2.5,
        "words": ("a", "bb", "ccc"),
        "numbers": (1, 2, 3),
        "floats": (1.5, 2.5),
        "flags": (True, False),
    }
    with tracer.start_as_current_span("agent", kind=SpanKind.SERVER, attributes=attributes) as a:
        other = tracer.start_span("other trace", context=set_span_in_context(INVALID_SPAN))
        with tracer.start_as_current_span("tool", links=[Link(remote, {"why": "retry"})]) as t:
            t.add_event("gen_ai.choice", {"index": 0, "text": "yes"})
            t.set_status(SpanStatus(StatusCode.ERROR, "boom"))
        other.end()
        child = tracer.start_span(
            "remote child", context=set_span_in_context(NonRecordingSpan(remote))
        )
        child.set_attribute("gen_ai.operation.name", "chat")
        child.end()
        a.set_attribute("late", "set")
    provider.shutdown()
    return list(memory.get_finished_spans())


def ids(context: SpanContext | None) -> tuple[int, int, bool, bool] | None:
    """What OTLP carries of a context (the official encoder sends no trace flags but
    "sampled", nor a link's or parent's trace state)."""
    if context is None:
        return None
    return (context.trace_id, context.span_id, context.is_remote, context.trace_flags.sampled)


def fields(made: ReadableSpan) -> dict[str, Any]:
    assert made.context is not None
    return {
        "name": made.name,
        "context": ids(made.context),
        "trace_state": made.context.trace_state,
        "parent": ids(made.parent),
        "kind": made.kind,
        "attributes": dict(made.attributes or {}),
        "events": [(e.name, e.timestamp, dict(e.attributes or {})) for e in made.events],
        "links": [(ids(link.context)[:3], dict(link.attributes or {})) for link in made.links],
        "status": (made.status.status_code, made.status.description),
        "times": (made.start_time, made.end_time),
        "resource": (dict(made.resource.attributes), made.resource.schema_url),
        "scope": made.instrumentation_scope,
    }


@pytest.mark.parametrize("encoded", [True, False])
@pytest.mark.parametrize("plain_contexts", [True, False])
@pytest.mark.parametrize("construction", ["direct", "positional", "keyword"])
def test_decoding_gives_the_sdk_spans_the_official_encoding_was_made_from(
    monkeypatch: pytest.MonkeyPatch, plain_contexts: bool, construction: str, encoded: bool
) -> None:
    """Field by field, through every construction route: contexts as plain tuples or by
    the SDK's constructor, spans with their fields set directly, by position or by
    keyword, span attributes parsed or left encoded (``wire.py``), and again with the
    encoded pairs kept from the first."""
    assert decode._PLAIN_CONTEXTS  # this SDK's SpanContext is the expected tuple
    assert decode._DIRECT  # and its ReadableSpan can be made by setting its fields
    monkeypatch.setattr(decode, "_PLAIN_CONTEXTS", plain_contexts)
    monkeypatch.setattr(decode, "_DIRECT", construction == "direct")
    monkeypatch.setattr(decode, "_POSITIONAL", construction == "positional")
    originals = sdk_spans()
    official = encode_spans(originals)
    cache = DecodeCache()
    decoded = decode_request(as_wire(official) if encoded else official, cache=cache)
    assert decoded.rejected == 0
    assert [fields(s) for s in decoded.spans] == [fields(s) for s in originals]
    again = decode_request(as_wire(official) if encoded else official, cache=cache)
    assert [fields(s) for s in again.spans] == [fields(s) for s in originals]
    for made in decoded.spans + again.spans:  # nothing else set than the constructor sets
        assert list(vars(made)) == list(vars(ReadableSpan("reference")))
    assert bool(cache.pairs) is encoded
    for made in decoded.spans:
        assert made.context is not None and made.context.is_valid
        assert made.parent is None or made.parent.is_valid
    (remote_child,) = [s for s in decoded.spans if s.name == "remote child"]
    assert remote_child.parent is not None and remote_child.parent.is_remote
    assert remote_child.context is not None
    assert remote_child.context.trace_state == TraceState([("vendor", "value")])


@pytest.mark.parametrize("encoded", [True, False])
def test_sizes_and_batches_are_the_grouper_s_own(encoded: bool) -> None:
    """Each span's size is ``estimate_span_bytes`` of it, and the batches hold the spans in
    order, by runs of one trace, with whether a root or a remote parent is among them."""
    raw = [
        span(1, attributes={"s": "x" * 50, "n": 3, "f": 1.5, "b": True, "e": ""}),
        span(2, 1, attributes={"list": ["a", "bb"], "map": {"k": "v"}, "bytes": b"\x01"}),
        span(3, 1, attributes={"long": "y" * 100}, trace_id=b"\x07" * 16),
        span(4, 1, attributes={"k": "first"}, flags=decode.HAS_IS_REMOTE | decode.IS_REMOTE),
        span(5, 1, attributes={"k": "x" * 10, "n": 1}),
    ]
    raw[4].attributes.add(key="k").value.string_value = "replaced"  # a duplicate key
    raw[1].events.add(name="e", time_unix_nano=START).attributes.add(key="a").value.int_value = 1
    limits = DecodeLimits(max_value_chars=60)
    made = request(*raw)
    decoded = decode_request(as_wire(made) if encoded else made, limits)
    sizes = [size for batch in decoded.batches for size in batch.sizes]
    assert sizes == [estimate_span_bytes(s) for s in decoded.spans]
    assert decoded.spans[2].attributes["long"] == "y" * 60 and decoded.values_cut == 1
    assert decoded.spans[4].attributes["k"] == "replaced"
    assert [[s.context.span_id for s in batch.spans] for batch in decoded.batches] == [
        [1, 2],
        [3],
        [4, 5],
    ]
    assert [batch.trace_id for batch in decoded.batches] == [
        int.from_bytes(TRACE, "big"),
        int.from_bytes(b"\x07" * 16, "big"),
        int.from_bytes(TRACE, "big"),
    ]
    assert [(b.has_root, b.remote_parents) for b in decoded.batches] == [
        (True, False),
        (False, False),
        (False, True),
    ]


def test_keys_and_short_values_are_kept_once_for_all_spans_and_bounded() -> None:
    """Held spans share one string per attribute key and per short value; long values
    stay each span's own; the table of kept strings never passes its bound."""
    cache = DecodeCache()
    long_value = "m" * (decode.MAX_KEPT_VALUE_CHARS + 1)
    made = [
        decode_request(
            request(span(n, attributes={"gen_ai.operation.name": "chat", "long": long_value})),
            cache=cache,
        ).spans[0]
        for n in (1, 2)
    ]
    first, second = (span_attributes(s) for s in made)
    assert first == second == {"gen_ai.operation.name": "chat", "long": long_value}
    (key_one, key_two) = (next(iter(a)) for a in (first, second))
    assert key_one is key_two
    assert first["gen_ai.operation.name"] is second["gen_ai.operation.name"]
    assert first["long"] is not second["long"]
    for n in range(decode.MAX_KEPT_STRINGS + 10):
        decode_request(request(span(1, attributes={f"k{n}": f"v{n}"})), cache=cache)
    assert 0 < len(cache.strings) <= decode.MAX_KEPT_STRINGS


def test_a_kept_value_is_still_cut_to_the_value_limit() -> None:
    limits = DecodeLimits(max_value_chars=4)
    decoded = decode_request(request(span(1, attributes={"k": "abcdefgh"})), limits)
    assert decoded.spans[0].attributes["k"] == "abcd"  # (the resource key is cut too)


def test_spans_are_made_with_the_constructor_when_it_sets_other_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The import-time check refuses direct construction for an SDK whose constructor
    sets more, other or differently named fields; decoding then uses the constructor."""
    assert span_making.spans_can_be_made_directly()
    constructor = ReadableSpan.__init__

    def more(self: ReadableSpan, *args: Any, **kwargs: Any) -> None:
        constructor(self, *args, **kwargs)
        self._dropped = 0  # type: ignore[attr-defined]

    monkeypatch.setattr(ReadableSpan, "__init__", more)
    assert not span_making.spans_can_be_made_directly()
    monkeypatch.setattr(ReadableSpan, "__init__", constructor)

    def renamed(span: ReadableSpan, name: str, *rest: Any) -> None:
        raise AttributeError("no such field")

    monkeypatch.setattr(span_making, "span_fields_set_directly", renamed)
    assert not span_making.spans_can_be_made_directly()
