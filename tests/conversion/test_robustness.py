"""Odd attribute values never fail a run (ReadableSpans built directly, as any SDK could)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

from .builder import BASE_NS, MS
from .checks import check_payload

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


def _span(
    span_id: int,
    parent: int | None,
    attributes: dict[str, Any],
    *,
    start: int | None = BASE_NS,
    end: int | None = BASE_NS + 5 * MS,
    events: tuple[Event, ...] = (),
    status: Status | None = None,
    name: str = "span",
) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=SpanContext(TRACE_ID, span_id, False, TraceFlags(1)),
        parent=SpanContext(TRACE_ID, parent, False) if parent is not None else None,
        attributes=attributes,
        events=events,
        status=status or Status(StatusCode.UNSET),
        start_time=start,
        end_time=end,
        instrumentation_scope=InstrumentationScope("odd.scope", None),
    )


ODD_VALUES: list[Any] = [
    b"\xff\xfe raw bytes",
    ("a", 1, 2.5, None, b"x"),
    math.nan,
    -math.inf,
    "\ud800 lone surrogate",
    "x" * 200_000,
    "{not json",
    '{"role": "user", "parts": "not a list"}',
    '[{"role": 5, "parts": [{"type": "tool_call", "arguments": {"a": [1, {"b": null}]}}, 7]}]',
    "[1, 2, 3]",
    -5,
    True,
    {"nested": ["dict"]},
    [[["deep"]]],
]

KEYS = [
    "gen_ai.usage.input_tokens",
    "gen_ai.request.model",
    "gen_ai.provider.name",
    "gen_ai.request.temperature",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "llm.invocation_parameters",
    "llm.input_messages.0.message.content",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.tool_calls.0.name",
    "infinium.section.sales.deal_value",
    "infinium.section.general.tags",
    "infinium.expected_outcome.task_objective",
    "infinium.description",
    "gen_ai.agent.name",
    "operation.cost",
    "http.response.status_code",
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("capture", [True, False])
def test_odd_values_in_every_read_attribute(value: Any, capture: bool) -> None:
    odd = dict.fromkeys(KEYS, value)
    root = _span(1, None, {"gen_ai.operation.name": "invoke_agent", **odd}, name="root")
    llm = _span(
        2,
        1,
        {"gen_ai.operation.name": "chat", **odd},
        events=(
            Event("gen_ai.user.message", {"content": value} if not isinstance(value, dict) else {}),
            Event("gen_ai.choice", {"message": value} if isinstance(value, str) else {}),
            Event("exception", {"exception.type": value, "exception.message": value}),
        ),
        status=Status(StatusCode.ERROR, "ValueError: \ud800"),
    )
    tool = _span(3, 2, {"gen_ai.operation.name": "execute_tool", **odd})
    payload = convert_run(Run(root, (root, llm, tool)), capture_content=capture)
    encoded = encode_payload(payload)
    check_payload(json.loads(encoded.body))


def test_missing_times_missing_parents_cycles_and_duplicates() -> None:
    root = _span(1, 99, {"gen_ai.operation.name": "invoke_agent"}, end=None)
    orphan = _span(
        2, 77, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}, start=None, end=None
    )
    cycle_a = _span(3, 4, {})
    cycle_b = _span(4, 3, {})
    duplicate = _span(2, 1, {"gen_ai.operation.name": "chat"})
    no_context = ReadableSpan(name="", context=None, parent=None, attributes=None, start_time=None)
    payload = convert_run(Run(root, (orphan, cycle_a, cycle_b, duplicate, no_context), True, None))
    check_payload(payload)
    assert payload["environment"]["custom_tags"]["partial"] == "true"
    assert payload["llm_usage"]["calls"][0]["model"] == "m"
    assert len(payload["steps"]) == 4
    assert payload["current_datetime"] == "2025-10-09T08:53:20.005Z"


def test_far_future_and_negative_times_are_clamped() -> None:
    root = _span(1, None, {}, start=-10, end=2**63)
    payload = check_payload(convert_run(Run(root, (root,))))
    assert payload["current_datetime"] == "2099-12-31T23:59:59.999Z"
    assert payload["duration"] == 86_400.0
