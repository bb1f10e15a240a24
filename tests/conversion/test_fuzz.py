"""Arbitrary attribute values and tree shapes: conversion and encoding never fail."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

from .builder import BASE_NS
from .checks import check_payload
from .test_robustness import KEYS

_OPERATIONS = ["invoke_agent", "chat", "execute_tool", "embeddings", "retrieval", "other", None]
_SCALARS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\ud800", "{", "[", '[{"role": "user", "parts": [{"type": "text"}]}]']),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=20),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=4).map(tuple))
_ATTRIBUTES = st.dictionaries(
    st.sampled_from([*KEYS, "http.request.method", "tool.name"]), _VALUES, max_size=8
)
_SPAN = st.tuples(
    st.sampled_from(_OPERATIONS),
    _ATTRIBUTES,
    st.integers(min_value=-5, max_value=8),  # parent index (out of range: missing parent)
    st.one_of(st.none(), st.integers(min_value=-(10**9), max_value=10**12)),  # start offset
    st.one_of(st.none(), st.integers(min_value=-(10**9), max_value=10**12)),  # end offset
    st.booleans(),  # failed
    st.one_of(st.none(), _SCALARS),  # exception message
)


def _readable(index: int, spec: tuple[Any, ...], count: int) -> ReadableSpan:
    operation, attributes, parent, start, end, failed, message = spec
    attrs = dict(attributes)
    if operation is not None:
        attrs["gen_ai.operation.name"] = operation
    parent_id = parent + 1 if index and 0 <= parent < count and parent != index else None
    events = (
        (Event("exception", {"exception.type": "E", "exception.message": message}),)
        if message is not None
        else ()
    )
    return ReadableSpan(
        name=f"s{index}",
        context=SpanContext(0xABC, index + 1, False, TraceFlags(1)),
        parent=SpanContext(0xABC, parent_id if parent_id else 999, False) if index else None,
        attributes=attrs,
        events=events,
        status=Status(StatusCode.ERROR, str(message)) if failed else Status(StatusCode.UNSET),
        start_time=BASE_NS + start if start is not None else None,
        end_time=BASE_NS + end if end is not None else None,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SPAN, min_size=1, max_size=7), st.booleans(), st.booleans())
def test_any_run_converts_encodes_and_validates(
    specs: list[Any], capture: bool, partial: bool
) -> None:
    spans = tuple(_readable(i, spec, len(specs)) for i, spec in enumerate(specs))
    payload = convert_run(
        Run(spans[0], spans, partial, "ttl" if partial else None), capture_content=capture
    )
    encoded = encode_payload(payload)
    decoded = json.loads(encoded.body)
    check_payload(decoded)
    assert not encoded.truncated
    assert list(decoded) == list(payload)
    assert decoded["duration"] == payload["duration"]
    assert len(decoded.get("steps", ())) == len(payload.get("steps", ()))
