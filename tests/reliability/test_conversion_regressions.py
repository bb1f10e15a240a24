"""Attribute values that once made conversion emit a payload the API refuses (422: run lost).

Each was found by a fuzz test and is kept here so it stays fixed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from infinium_otel.export.assembly import RunAssembler
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.sandbox import validate_trace_payload

BASE_NS = 1_760_000_000_000_000_000
AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}


def _span(span_id: int, parent: int | None, attributes: dict[str, Any]) -> ReadableSpan:
    return ReadableSpan(
        name=f"span-{span_id}",
        context=SpanContext(1, span_id, False, TraceFlags(1)),
        parent=SpanContext(1, parent, False) if parent else None,
        attributes=BoundedAttributes(attributes=attributes, immutable=True),
        start_time=BASE_NS + span_id,
        end_time=BASE_NS + 1_000 - span_id,
    )


def _problems(*spans: ReadableSpan) -> list[str]:
    (run,) = RunAssembler().add(list(spans), now=0.0)
    return validate_trace_payload(json.loads(encode_payload(convert_run(run)).body))


@pytest.mark.parametrize("value", ["0", "yesterday", "2026-13-45"])
def test_a_non_iso_time_tracking_value_never_invalidates_the_payload(value: str) -> None:
    root = _span(1, None, {**AGENT, "infinium.section.time_tracking.start_time": value})
    assert _problems(root) == []


@pytest.mark.parametrize("status", [0, 42, 99_999, "0"])
def test_an_impossible_http_status_never_invalidates_the_payload(status: object) -> None:
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}
    child = _span(2, 1, {**tool, "http.status_code": status})
    assert _problems(child, _span(1, None, AGENT)) == []
