"""Conversion reads the SDK's private span fields only where the check at import saw them hold.

With this SDK the check holds (so the fields are read); a span type that keeps a value
elsewhere fails it; and conversion through the public properties, as it runs where the
check fails, gives the same payloads byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, _Span
from opentelemetry.trace import Status, StatusCode

from infinium_otel.conventions import facts, sdk_fields
from infinium_otel.payload import convert
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

from .test_conversion_reference import _agent_run


def test_the_sdk_in_use_keeps_the_values_in_the_fields_conversion_reads() -> None:
    assert sdk_fields.SDK_FIELDS_HOLD
    assert sdk_fields.STATUS_FIELDS_HOLD
    assert sdk_fields.SCOPE_FIELDS_HOLD
    assert facts._SDK_SPANS  # so the tests of conversion run through the fields


class _RenamedSpan(_Span):
    """A span whose name lives in another field, as another SDK version might keep it."""

    @property
    def name(self) -> str:
        return "elsewhere"


class _RenamedStatus(Status):
    @property
    def status_code(self) -> StatusCode:
        return StatusCode.OK


def test_a_span_that_keeps_a_value_elsewhere_fails_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sdk_fields, "_Span", _RenamedSpan)
    assert not sdk_fields._span_fields_hold()
    monkeypatch.setattr(sdk_fields, "Status", _RenamedStatus)
    assert not sdk_fields._status_fields_hold()


def test_a_check_that_raises_says_the_fields_do_not_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise TypeError("another signature")

    monkeypatch.setattr(sdk_fields, "_Span", broken)
    monkeypatch.setattr(sdk_fields, "Status", broken)
    monkeypatch.setattr(sdk_fields, "InstrumentationScope", broken)
    assert not sdk_fields._span_fields_hold()
    assert not sdk_fields._status_fields_hold()
    assert not sdk_fields._scope_fields_hold()


@pytest.mark.parametrize("shape", ["json", "flattened"])
@pytest.mark.parametrize("capture", [True, False])
def test_conversion_through_the_properties_gives_the_same_payloads(
    monkeypatch: pytest.MonkeyPatch, shape: str, capture: bool
) -> None:
    run = _agent_run(4, shape)  # chat and tool spans, one tool failing with an event
    through_fields = encode_payload(convert.convert_run(run, capture_content=capture)).body
    monkeypatch.setattr(facts, "_SDK_SPANS", frozenset())
    monkeypatch.setattr(facts, "STATUS_FIELDS_HOLD", False)
    monkeypatch.setattr(facts, "SCOPE_FIELDS_HOLD", False)
    monkeypatch.setattr(facts, "SDK_FIELDS_HOLD", False)
    through_properties = encode_payload(convert.convert_run(run, capture_content=capture)).body
    assert through_properties == through_fields
    assert b'"status":"error"' in through_fields or b'"error"' in through_fields


class _OwnSpan(ReadableSpan):
    """A span type of other code, built on the SDK's: read through its properties."""


def _as_own(span: ReadableSpan) -> ReadableSpan:
    return _OwnSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        instrumentation_scope=span.instrumentation_scope,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
    )


@pytest.mark.parametrize("capture", [True, False])
def test_spans_of_another_type_convert_as_the_sdk_s_own(capture: bool) -> None:
    run = _agent_run(3, "json")
    own = tuple(_as_own(span) for span in run.spans)
    root = next(span for span in own if span.parent is None)
    own_run = Run(root, own)
    assert type(own_run.spans[0]) is _OwnSpan
    assert (
        encode_payload(convert.convert_run(own_run, capture_content=capture)).body
        == encode_payload(convert.convert_run(run, capture_content=capture)).body
    )
