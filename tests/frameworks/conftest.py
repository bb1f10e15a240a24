"""Framework tests: a real framework drives the fake model; spans go through the real exporter
to the sandbox. Each framework's test module skips when its package is not installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.support import Pipeline, checked_payloads
from infinium_otel.payload.cost import price_table_available
from infinium_otel.sandbox import Sandbox

from .fake_model import ANSWER, QUESTION, TOOL_NAME, TOOL_RESULT, USAGE, FakeModel


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    with FakeModel() as fake:
        yield fake


@pytest.fixture
def pipeline(sandbox: Sandbox) -> Iterator[Pipeline]:
    """A real provider -> SimpleSpanProcessor -> InfiniumSpanExporter -> sandbox."""
    line = Pipeline(sandbox, batch=False)
    try:
        yield line
    finally:
        line.close()


def delivered(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Every payload the sandbox accepted once the exporter has delivered what it holds."""
    assert pipeline.flush(20.0), "the exporter did not deliver everything"
    return checked_payloads(pipeline.sandbox)


def show(payloads: list[dict[str, Any]]) -> str:
    """The payloads as text, for assertion messages."""
    return json.dumps(payloads, indent=1)[:6000]


def llm_steps(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in payload.get("steps", []) if s["action"] == "llm_call"]


def tool_steps(payload: dict[str, Any], name: str = TOOL_NAME) -> list[dict[str, Any]]:
    return [
        s
        for s in payload.get("steps", [])
        if s["action"] == "tool_use" and s["tool_call"]["tool_name"] == name
    ]


def assert_weather_run(
    payloads: list[dict[str, Any]], *, name: str, model_calls: int = 2
) -> dict[str, Any]:
    """The facts every framework's run must show: one payload, the agent's name, the question
    in, the answer out, one LLM step per model call, the tool step, usage as reported."""
    assert len(payloads) == 1, show(payloads)
    payload = payloads[0]
    assert payload["name"] == name, show(payloads)
    assert payload.get("input_summary") == QUESTION, show(payloads)
    assert payload.get("output_summary") == ANSWER, show(payloads)
    assert len(llm_steps(payload)) == model_calls, show(payloads)
    tools = tool_steps(payload)
    assert len(tools) == 1, show(payloads)
    call = tools[0]["tool_call"]
    assert "Paris" in call.get("input_summary", ""), show(payloads)
    assert call.get("output_summary") == TOOL_RESULT, show(payloads)
    usage = payload["llm_usage"]
    assert usage["api_calls_count"] == model_calls, show(payloads)
    assert usage["prompt_tokens"] == sum(p for p, _ in USAGE[:model_calls]), show(payloads)
    assert usage["completion_tokens"] == sum(c for _, c in USAGE[:model_calls]), show(payloads)
    if price_table_available():  # reported by the framework or estimated from the tokens
        assert usage.get("estimated_cost_usd", 0) > 0, show(payloads)
    return payload
