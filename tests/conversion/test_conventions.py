"""Each convention's attributes land in the same payload fields (table-driven)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infinium_otel.payload.convert import convert_run

from .builder import Trace
from .checks import check_payload

_USER = "What is the weather in Paris?"
_ANSWER = "It is sunny in Paris."

# (id, agent root attributes, LLM span attributes, LLM span events, expected facts)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[Any], dict[str, Any]]] = [
    (
        "genai-current",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "forecaster"},
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.temperature": 0.3,
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 7,
            "operation.cost": 0.0025,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": _USER}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": _ANSWER}],
                        "finish_reason": "stop",
                    }
                ]
            ),
        },
        [],
        {
            "name": "forecaster",
            "model": "gpt-4o-mini-2024-07-18",
            "provider": "openai",
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "temperature": 0.3,
            "cost": 0.0025,
            "description": "chat gpt-4o-mini-2024-07-18",
        },
    ),
    (
        "genai-old-names-events",
        {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "daily"},
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.system": "openai",
            "gen_ai.usage.prompt_tokens": 30,
            "gen_ai.usage.completion_tokens": 4,
        },
        [
            ("gen_ai.system.message", {"content": "You are a forecaster."}),
            ("gen_ai.user.message", {"content": _USER}),
            ("gen_ai.choice", {"message": json.dumps({"role": "assistant", "content": _ANSWER})}),
        ],
        {
            "name": "daily",
            "model": "gpt-4o",
            "provider": "openai",
            "prompt_tokens": 30,
            "completion_tokens": 4,
            "description": "chat gpt-4o",
        },
    ),
    (
        "genai-old-content-events",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "legacy"},
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-3.5-turbo",
            "gen_ai.system": "openai",
        },
        [
            (
                "gen_ai.content.prompt",
                {"gen_ai.prompt": json.dumps([{"role": "user", "content": _USER}])},
            ),
            (
                "gen_ai.content.completion",
                {"gen_ai.completion": json.dumps([{"role": "assistant", "content": _ANSWER}])},
            ),
        ],
        {"name": "legacy", "model": "gpt-3.5-turbo", "provider": "openai"},
    ),
    (
        "openinference",
        {"openinference.span.kind": "AGENT", "agent.name": "oi-agent"},
        {
            "openinference.span.kind": "LLM",
            "llm.invocation_parameters": json.dumps({"model": "gpt-4.1", "temperature": 0.7}),
            "llm.provider": "openai",
            "llm.token_count.prompt": 21,
            "llm.token_count.completion": 9,
            "llm.token_count.total": 30,
            "llm.cost.total": 0.01,
            "input.value": json.dumps({"messages": [{"role": "user", "content": _USER}]}),
            "input.mime_type": "application/json",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be brief.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": _USER,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": _ANSWER,
        },
        [],
        {
            "name": "oi-agent",
            "model": "gpt-4.1",
            "provider": "openai",
            "prompt_tokens": 21,
            "completion_tokens": 9,
            "total_tokens": 30,
            "temperature": 0.7,
            "cost": 0.01,
            "description": "llm gpt-4.1",
        },
    ),
    (
        "openllmetry",
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.name": "joke_workflow",
            "traceloop.workflow.name": "joke_workflow",
            "traceloop.entity.input": json.dumps({"args": [_USER], "kwargs": {}}),
        },
        {
            "llm.request.type": "chat",
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-3-5-haiku",
            "gen_ai.usage.prompt_tokens": 40,
            "gen_ai.usage.completion_tokens": 11,
            "llm.usage.total_tokens": 51,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": _USER,
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": _ANSWER,
            "gen_ai.completion.0.finish_reason": "stop",
        },
        [],
        {
            "name": "joke_workflow",
            "model": "claude-3-5-haiku",
            "provider": "Anthropic",
            "prompt_tokens": 40,
            "completion_tokens": 11,
            "total_tokens": 51,
            "description": "chat claude-3-5-haiku",
        },
    ),
]


@pytest.mark.parametrize(
    ("root_attrs", "llm_attrs", "events", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_convention_fields(
    root_attrs: dict[str, Any],
    llm_attrs: dict[str, Any],
    events: list[Any],
    expected: dict[str, Any],
) -> None:
    t = Trace()
    root = t.start("root span", root_attrs)
    t.span("llm", llm_attrs, parent=root, at=10, until=260, events=events)
    root.end(end_time=root.start_time + 500 * 1_000_000)
    payload = check_payload(convert_run(t.run(root)))

    assert payload["name"] == expected["name"]
    (step,) = payload["steps"]
    assert step["action"] == "llm_call"
    assert step["description"] == expected.get("description", step["description"])
    assert step["duration_ms"] == 250
    assert _USER in step["input_preview"]
    assert "Be brief" not in step["input_preview"]  # the system prompt is not the new input
    assert step["output_preview"] == _ANSWER
    call = step["llm_call"]
    assert call["model"] == expected["model"]
    assert call["provider"] == expected["provider"]
    assert call["latency_ms"] == 250
    assert call.get("prompt_tokens") == expected.get("prompt_tokens")
    assert call.get("completion_tokens") == expected.get("completion_tokens")
    assert call.get("temperature") == expected.get("temperature")
    usage = payload["llm_usage"]
    assert usage["calls"] == [call]
    assert usage["api_calls_count"] == 1
    assert usage["model"] == expected["model"]
    assert usage["provider"] == expected["provider"]
    if "prompt_tokens" in expected:
        total = expected.get(
            "total_tokens", expected["prompt_tokens"] + expected["completion_tokens"]
        )
        assert usage["total_tokens"] == total
    assert usage.get("estimated_cost_usd") == expected.get("cost")
    assert _USER in payload["input_summary"]
    assert payload["output_summary"] in (_ANSWER,)


def test_tool_conventions_genai_openinference_openllmetry() -> None:
    t = Trace()
    root = t.start("agent", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"})
    t.span(
        "execute_tool lookup",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "lookup",
            "gen_ai.tool.call.arguments": '{"q": "paris"}',
            "gen_ai.tool.call.result": "48.85N",
        },
        parent=root,
        at=1,
        until=5,
    )
    t.span(
        "search",
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "search",
            "input.value": "capital of france",
            "output.value": "Paris",
        },
        parent=root,
        at=6,
        until=9,
    )
    t.span(
        "calc.tool",
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.name": "calc",
            "traceloop.entity.input": '{"args": [2, 3]}',
            "traceloop.entity.output": "5",
        },
        parent=root,
        at=10,
        until=12,
    )
    root.end(end_time=root.start_time + 20 * 1_000_000)
    payload = check_payload(convert_run(t.run(root)))
    tools = [(s["description"], s["tool_call"]) for s in payload["steps"]]
    assert tools == [
        (
            "tool lookup",
            {
                "tool_name": "lookup",
                "duration_ms": 4,
                "input_summary": '{"q": "paris"}',
                "output_summary": "48.85N",
            },
        ),
        (
            "tool search",
            {
                "tool_name": "search",
                "duration_ms": 3,
                "input_summary": "capital of france",
                "output_summary": "Paris",
            },
        ),
        (
            "tool calc",
            {
                "tool_name": "calc",
                "duration_ms": 2,
                "input_summary": '{"args": [2, 3]}',
                "output_summary": "5",
            },
        ),
    ]
    assert [s["action"] for s in payload["steps"]] == ["tool_use"] * 3
    assert payload["sections"]["general"]["tools_used"] == ["lookup", "search", "calc"]
    assert "llm_usage" not in payload
    assert payload["description"] == "Agent run 'a': 3 steps, 0 LLM calls, 3 tool calls"


def test_our_attributes_fill_description_outcome_sections_and_summaries() -> None:
    t = Trace()
    root = t.start(
        "agent",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
            "infinium.description": "Answer a refund request",
            "infinium.input_summary": "Customer asks for a refund",
            "infinium.output_summary": "Refund issued",
            "infinium.expected_outcome.task_objective": "Resolve the refund",
            "infinium.expected_outcome.required_deliverables": ("reply", "refund id"),
            "infinium.expected_outcome.constraints": ["polite"],
            "infinium.expected_outcome.acceptance_criteria": "refund id present",
            "infinium.section.customer.customer_name": "Ada",
            "infinium.section.customer.client_company": "Acme",
            "infinium.section.support.priority": "high",
            "infinium.section.support.follow_up_required": True,
            "infinium.section.sales.deal_value": 12.5,
            "infinium.section.content.content_length": 300,
            "infinium.section.general.tags": ("refund", "vip"),
            "infinium.section.general.tools_used": "crm",
            "infinium.section.customer.shoe_size": "44",
            "infinium.section.spaceship.name": "x",
        },
    )
    t.span(
        "execute_tool refund",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "refund"},
        parent=root,
        at=1,
        until=2,
    )
    root.end(end_time=root.start_time + 3 * 1_000_000)
    payload = check_payload(convert_run(t.run(root)))
    assert payload["description"] == "Answer a refund request"
    assert payload["input_summary"] == "Customer asks for a refund"
    assert payload["output_summary"] == "Refund issued"
    assert payload["expected_outcome"] == {
        "task_objective": "Resolve the refund",
        "required_deliverables": ["reply", "refund id"],
        "constraints": ["polite"],
        "acceptance_criteria": ["refund id present"],
    }
    sections = payload["sections"]
    assert list(sections) == ["time_tracking", "customer", "support", "sales", "content", "general"]
    assert sections["customer"] == {"customer_name": "Ada", "client_company": "Acme"}
    assert sections["support"] == {"priority": "high", "follow_up_required": True}
    assert sections["sales"] == {"deal_value": 12.5}
    assert sections["content"] == {"content_length": 300}
    assert sections["general"] == {"tools_used": ["crm", "refund"], "tags": ["refund", "vip"]}
    assert sections["time_tracking"] == {
        "start_time": "2025-10-09T08:53:20.000Z",
        "end_time": "2025-10-09T08:53:20.003Z",
    }


@pytest.mark.parametrize(
    ("attrs", "name"),
    [
        ({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "g"}, "g"),
        ({"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "w"}, "w"),
        ({"openinference.span.kind": "AGENT", "agent.name": "oi"}, "oi"),
        ({"traceloop.span.kind": "agent", "traceloop.entity.name": "tl"}, "tl"),
        ({"openinference.span.kind": "AGENT"}, "root span"),
    ],
)
def test_run_name_priority(attrs: dict[str, Any], name: str) -> None:
    t = Trace()
    root = t.span("root span", attrs, until=1)
    payload = check_payload(convert_run(t.run(root)))
    assert payload["name"] == name


def test_run_name_prefers_genai_then_openinference_then_openllmetry() -> None:
    t = Trace()
    root = t.span(
        "root span",
        {
            "traceloop.span.kind": "agent",
            "traceloop.entity.name": "entity",
            "traceloop.workflow.name": "pipeline",
            "agent.name": "oi",
            "gen_ai.workflow.name": "wf",
        },
        until=1,
    )
    assert check_payload(convert_run(t.run(root)))["name"] == "wf"
    t2 = Trace()
    root2 = t2.span(
        "root span",
        {
            "traceloop.span.kind": "agent",
            "traceloop.entity.name": "entity",
            "traceloop.workflow.name": "pipeline",
        },
        until=1,
    )
    assert check_payload(convert_run(t2.run(root2)))["name"] == "entity"


def test_section_values_given_as_text_are_typed() -> None:
    t = Trace()
    root = t.span(
        "agent",
        {
            "gen_ai.operation.name": "invoke_agent",
            "infinium.section.support.follow_up_required": "True",
            "infinium.section.sales.deal_value": "12.5",
            "infinium.section.content.content_length": "300",
            "infinium.section.development.performance_metrics": '{"p95_ms": 120}',
            "infinium.section.development.tests_run": "-3",
            "infinium.section.project.deliverables": ("report", "slides"),
        },
        until=1,
    )
    sections = check_payload(convert_run(t.run(root)))["sections"]
    assert sections["support"] == {"follow_up_required": True}
    assert sections["sales"] == {"deal_value": 12.5}
    assert sections["content"] == {"content_length": 300}
    assert sections["development"] == {"performance_metrics": '{"p95_ms": 120}'}
    assert sections["project"] == {"deliverables": ["report", "slides"]}
