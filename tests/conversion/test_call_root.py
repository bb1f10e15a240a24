"""A run whose root is itself a call (zero-code: one LLM or tool span, no agent around it)."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from infinium_otel.payload.convert import convert_run

from .builder import Trace
from .checks import check_payload


def _chat(tokens: tuple[int, int] = (100, 20)) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
    }


def test_a_single_llm_span_is_a_one_step_run() -> None:
    t = Trace()
    root = t.span("chat gpt-4o", _chat(), until=800, kind=SpanKind.CLIENT)
    payload = check_payload(convert_run(t.run(root)))
    [step] = payload["steps"]
    assert step["step_number"] == 1
    assert step["action"] == "llm_call"
    assert step["description"] == "chat gpt-4o"
    assert step["llm_call"]["prompt_tokens"] == 100
    assert step["llm_call"]["completion_tokens"] == 20
    assert step["metadata"]["depth"] == 1 and "parent_step" not in step["metadata"]
    usage = payload["llm_usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (100, 20)
    assert usage["api_calls_count"] == 1 and len(usage["calls"]) == 1
    assert payload["description"] == "Run 'chat gpt-4o': 1 step, 1 LLM call, 0 tool calls"


def test_an_llm_root_with_a_nested_duplicate_and_transport_counts_once() -> None:
    """openai-v2 and OpenInference both wrap one call, and the HTTP POST sits under it."""
    t = Trace()
    root = t.start("chat gpt-4o", _chat(), scope="opentelemetry.instrumentation.openai_v2")
    inner = t.start(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 100,
            "llm.token_count.completion": 20,
        },
        parent=root,
        at=1,
        scope="openinference.instrumentation.openai",
    )
    t.span(
        "POST",
        {"http.request.method": "POST", "server.address": "api.openai.com"},
        parent=inner,
        at=2,
        until=700,
        kind=SpanKind.CLIENT,
    )
    inner.end(end_time=root.start_time + 750_000_000)
    root.end(end_time=root.start_time + 800_000_000)
    payload = check_payload(convert_run(t.run(root)))
    assert [s["action"] for s in payload["steps"]] == ["llm_call"]
    assert payload["llm_usage"]["prompt_tokens"] == 100
    assert payload["llm_usage"]["api_calls_count"] == 1
    assert payload["sections"]["general"]["external_apis_called"] == ["api.openai.com"]


def test_a_single_tool_span_is_a_one_step_run() -> None:
    t = Trace()
    root = t.span(
        "execute_tool lookup",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        until=30,
    )
    payload = check_payload(convert_run(t.run(root)))
    [step] = payload["steps"]
    assert step["action"] == "tool_use"
    assert step["tool_call"]["tool_name"] == "lookup"
    assert "llm_usage" not in payload
    assert payload["sections"]["general"]["tools_used"] == ["lookup"]
    assert payload["description"] == "Run 'execute_tool lookup': 1 step, 0 LLM calls, 1 tool call"


def test_a_plain_root_is_described_without_run_run() -> None:
    t = Trace()
    root = t.start("handle ticket")
    t.span("chat gpt-4o", _chat(), parent=root, at=1, until=5)
    root.end(end_time=root.start_time + 10_000_000)
    payload = check_payload(convert_run(t.run(root)))
    assert payload["description"] == "Run 'handle ticket': 1 step, 1 LLM call, 0 tool calls"
    assert [s["action"] for s in payload["steps"]] == ["llm_call"]
