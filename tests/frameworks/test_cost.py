"""Estimated cost from token usage with the ``genai-prices`` table (extra ``cost``): only where
no instrumentation reported one, and never for a model the table does not know."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("genai_prices", reason="genai-prices is not installed (extra: cost)")

from genai_prices import Usage, calc_price

from conversion.builder import Trace
from conversion.checks import check_payload
from infinium_otel.payload.convert import convert_run

AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "forecaster"}


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200,
        **extra,
    }


def usage_of(*calls: dict[str, Any]) -> dict[str, Any]:
    trace = Trace()
    root = trace.start("invoke_agent forecaster", AGENT)
    for index, attributes in enumerate(calls):
        trace.span("chat", attributes, parent=root, at=1 + 2 * index, until=2 + 2 * index)
    root.end()
    return dict(check_payload(convert_run(trace.run(root)))["llm_usage"])


def test_a_known_model_without_a_reported_cost_gets_the_tables_price() -> None:
    expected = calc_price(
        Usage(input_tokens=1000, output_tokens=200), "gpt-4o-mini", provider_id="openai"
    ).total_price

    usage = usage_of(chat("gpt-4o-mini"))

    assert usage["estimated_cost_usd"] == pytest.approx(float(expected))
    assert usage["estimated_cost_usd"] > 0


def test_an_unknown_model_gets_no_price() -> None:
    usage = usage_of(chat("house-model-7"))
    assert "estimated_cost_usd" not in usage


def test_a_reported_cost_is_kept() -> None:
    usage = usage_of(chat("gpt-4o-mini", **{"operation.cost": 0.5}))
    assert usage["estimated_cost_usd"] == 0.5


def test_an_unknown_provider_name_still_prices_a_known_model() -> None:
    usage = usage_of(chat("gpt-4o-mini", **{"gen_ai.provider.name": "strands-agents"}))
    assert usage["estimated_cost_usd"] > 0
