"""Caps, contract key order, clean JSON and fit-to-size."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from infinium_otel.errors import PayloadTooLargeError
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import (
    MAX_PAYLOAD_BYTES,
    TARGET_PAYLOAD_BYTES,
    cap,
    encode_payload,
    order_payload,
)

from .builder import MS, Trace
from .checks import check_payload

AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "agent"}
TOP_ORDER = [
    "name",
    "description",
    "current_datetime",
    "duration",
    "input_summary",
    "output_summary",
    "expected_outcome",
    "steps",
    "errors",
    "llm_usage",
    "sections",
    "environment",
]


def _big_run(steps: int, preview: int, *, fits: bool = True) -> dict[str, Any]:
    """A run of ``steps`` LLM calls and one failed tool; checked unless it is meant not to fit."""
    t = Trace()
    root = t.start(
        "invoke_agent agent",
        {**AGENT, "infinium.expected_outcome.task_objective": "o", "infinium.description": "Big"},
    )
    for i in range(steps):
        t.span(
            f"chat {i}",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 1,
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "content": f"in{i} " + "x" * preview}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "content": f"out{i} " + "y" * preview}]
                ),
            },
            parent=root,
            at=i,
            until=i + 0.5,
        )
    t.span(
        "fetch",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "f"},
        parent=root,
        at=steps,
        until=steps + 1,
        error="boom",
    )
    root.end(end_time=root.start_time + (steps + 2) * MS)
    payload = convert_run(t.run(root))
    return check_payload(payload) if fits else payload


def test_caps_end_with_ellipsis() -> None:
    assert cap("abcdef", 4) == "a..."
    assert cap("abcd", 4) == "abcd"
    payload = _big_run(2, 5000)
    step = payload["steps"][0]
    assert len(step["input_preview"]) == 500 and step["input_preview"].endswith("...")
    assert len(step["output_preview"]) == 1500 and step["output_preview"].endswith("...")
    assert len(payload["input_summary"]) == 3000 and payload["input_summary"].endswith("...")
    assert payload["output_summary"].startswith("out1 ") and len(payload["output_summary"]) == 5005


def test_tool_and_summary_caps() -> None:
    t = Trace()
    root = t.start(
        "invoke_agent agent",
        {**AGENT, "infinium.output_summary": "z" * 9000, "infinium.description": "d" * 20000},
    )
    t.span(
        "tool",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "t" * 900,
            "gen_ai.tool.call.arguments": "a" * 400,
            "gen_ai.tool.call.result": "r" * 2000,
        },
        parent=root,
        at=1,
        until=2,
    )
    root.end(end_time=root.start_time + 3 * MS)
    payload = check_payload(convert_run(t.run(root)))
    assert len(payload["output_summary"]) == 8000
    assert len(payload["description"]) == 10000
    tool = payload["steps"][0]["tool_call"]
    assert len(tool["input_summary"]) == 300 and tool["input_summary"].endswith("...")
    assert len(tool["output_summary"]) == 1500
    assert len(tool["tool_name"]) == 500


def test_key_order_follows_the_contract_everywhere() -> None:
    payload = _big_run(3, 10)
    assert list(payload) == [k for k in TOP_ORDER if k in payload]
    assert list(payload["steps"][0]) == [
        "step_number",
        "action",
        "description",
        "duration_ms",
        "input_preview",
        "output_preview",
        "llm_call",
        "metadata",
    ]
    assert list(payload["steps"][-1]) == [
        "step_number",
        "action",
        "description",
        "duration_ms",
        "error",
        "tool_call",
        "metadata",
    ]
    assert list(payload["steps"][-1]["error"]) == [
        "error_type",
        "message",
        "recoverable",
        "retry_count",
    ]
    usage_order = [
        "model",
        "provider",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "estimated_cost_usd",
        "api_calls_count",
        "total_latency_ms",
        "calls",
    ]
    assert list(payload["llm_usage"]) == [k for k in usage_order if k in payload["llm_usage"]]
    assert len(payload["llm_usage"]) == 7
    assert list(payload["environment"]) == [
        "framework",
        "python_version",
        "sdk_version",
        "runtime",
        "custom_tags",
    ]
    body = encode_payload(payload).body.decode()
    assert list(json.loads(body)) == list(payload)


def test_order_payload_sorts_and_drops_empties_recursively() -> None:
    messy = {
        "environment": {"custom_tags": {}, "runtime": "python", "framework": None},
        "steps": [
            {
                "metadata": {"depth": 1},
                "action": "x",
                "step_number": 1,
                "description": "d",
                "error": {},
                "tool_call": None,
            }
        ],
        "errors": [],
        "duration": math.nan,
        "description": "d",
        "name": "n",
        "sections": {"general": {"tags": []}, "customer": {"customer_name": "a"}},
        "extra": (b"bytes", {1: 2}),
    }
    ordered = order_payload(messy)
    assert list(ordered) == ["name", "description", "steps", "sections", "environment", "extra"]
    assert ordered["steps"] == [
        {"step_number": 1, "action": "x", "description": "d", "metadata": {"depth": 1}}
    ]
    assert ordered["sections"] == {"customer": {"customer_name": "a"}}
    assert ordered["environment"] == {"runtime": "python"}
    assert ordered["extra"] == ["bytes", {"1": 2}]


def test_encode_is_compact_utf8_and_replaces_lone_surrogates() -> None:
    payload = {
        "name": "caf\u00e9 \ud800 x",
        "description": "\udfff",
        "current_datetime": "2025-01-01T00:00:00.000Z",
        "duration": 1.0,
    }
    encoded = encode_payload(payload)
    assert encoded.truncated is False and encoded.dropped_steps == 0
    text = encoded.body.decode("utf-8")
    assert json.loads(text)["name"] == "caf\u00e9 \ufffd x"
    assert ", " not in text and ": " not in text


def test_encode_sanitises_nan_and_odd_types() -> None:
    payload = {
        "name": "n",
        "description": "d",
        "current_datetime": "2025-01-01T00:00:00.000Z",
        "duration": math.inf,
        "llm_usage": {"estimated_cost_usd": math.nan, "model": b"m"},
    }
    decoded = json.loads(encode_payload(payload).body)
    assert decoded == {
        "name": "n",
        "description": "d",
        "current_datetime": "2025-01-01T00:00:00.000Z",
        "llm_usage": {"model": "m"},
    }


def test_five_thousand_big_steps_fit_keeping_the_latest() -> None:
    payload = _big_run(5000, 3000, fits=False)
    raw = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
    assert raw > MAX_PAYLOAD_BYTES
    encoded = encode_payload(payload)
    assert len(encoded.body) <= TARGET_PAYLOAD_BYTES
    assert encoded.truncated is True and encoded.dropped_steps > 0
    fitted = check_payload(json.loads(encoded.body))
    steps = fitted["steps"]
    assert [s["step_number"] for s in steps] == list(range(1, len(steps) + 1))
    assert len(steps) + encoded.dropped_steps == 5001
    assert steps[-1]["description"] == "tool f"
    assert steps[-2]["input_preview"].startswith("in4999 ")
    assert len(steps[-2]["input_preview"]) <= 100
    assert fitted["description"] == f"[{encoded.dropped_steps} earlier steps truncated] Big"
    assert fitted["environment"]["custom_tags"]["truncated"] == "true"
    assert fitted["llm_usage"]["calls"] == [s["llm_call"] for s in steps if "llm_call" in s]
    assert fitted["llm_usage"]["api_calls_count"] == 5000  # totals stay those of the whole run
    assert list(fitted) == list(payload)
    assert "truncated" not in payload["environment"]["custom_tags"]  # the input is not changed


def test_shrinking_previews_alone_can_be_enough() -> None:
    payload = _big_run(400, 3000)
    encoded = encode_payload(payload, max_bytes=600_000)
    fitted = check_payload(json.loads(encoded.body))
    assert encoded.truncated and encoded.dropped_steps == 0
    assert len(fitted["steps"]) == 401
    assert max(len(s.get("input_preview", "")) for s in fitted["steps"]) == 200
    assert fitted["description"] == "Big"


def test_previews_are_dropped_when_few_steps_remain() -> None:
    payload = _big_run(30, 3000)
    encoded = encode_payload(payload, max_bytes=9_000)
    fitted = check_payload(json.loads(encoded.body))
    assert len(fitted["steps"]) <= 10
    assert encoded.dropped_steps + len(fitted["steps"]) == 31
    assert not any("input_preview" in s for s in fitted["steps"])


def test_parent_steps_are_renumbered_or_dropped() -> None:
    steps = [
        {
            "step_number": i,
            "action": "x",
            "description": "d" * 200,
            "metadata": {"parent_step": i - 1 if i > 1 else None, "depth": 1},
        }
        for i in range(1, 101)
    ]
    payload = order_payload(
        {
            "name": "n",
            "description": "d",
            "current_datetime": "2025-01-01T00:00:00.000Z",
            "duration": 1.0,
            "steps": steps,
        }
    )
    encoded = encode_payload(payload, max_bytes=5_000)
    fitted = json.loads(encoded.body)
    first = fitted["steps"][0]
    assert first["step_number"] == 1 and "parent_step" not in first["metadata"]
    assert fitted["steps"][1]["metadata"]["parent_step"] == 1


def test_absurd_payload_raises_payload_too_large() -> None:
    payload = {
        "name": "n" * 1000,
        "description": "d",
        "current_datetime": "2025-01-01T00:00:00.000Z",
        "duration": 1.0,
    }
    with pytest.raises(PayloadTooLargeError):
        encode_payload(payload, max_bytes=200)


def test_shrinking_again_keeps_one_prefix_with_the_total() -> None:
    payload = _big_run(300, 2000)
    first = encode_payload(payload, max_bytes=100_000)
    again = encode_payload(json.loads(first.body), max_bytes=50_000)
    fitted = check_payload(json.loads(again.body))
    total = first.dropped_steps + again.dropped_steps
    assert first.dropped_steps > 0 and again.dropped_steps > 0
    assert fitted["description"] == f"[{total} earlier steps truncated] Big"
    assert len(fitted["steps"]) + total == 301
    assert fitted["steps"][0]["step_number"] == 1
