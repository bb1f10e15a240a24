"""What leaves the process: content capture, the payload hook, and the size limit."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from infinium_otel.sandbox import Sandbox

from .support import Pipeline, agent_attributes, chat_attributes, checked_payloads, trace_posts

PROMPT = "PROMPT-MARKER my card number is 4111 1111 1111 1111"
ANSWER = "ANSWER-MARKER here is your refund"
TOOL_ARGS = '{"query": "TOOLARG-MARKER"}'
TOOL_RESULT = "TOOLRESULT-MARKER 3 rows"
MARKERS = ("PROMPT-MARKER", "ANSWER-MARKER", "TOOLARG-MARKER", "TOOLRESULT-MARKER")


def content_heavy_run(pipeline: Pipeline, name: str = "support") -> None:
    """One run carrying text in every convention's content attributes and events."""
    tracer = pipeline.tracer
    messages_in = json.dumps([{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}])
    messages_out = json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}]}]
    )
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=agent_attributes(name)):
        with tracer.start_as_current_span(
            "chat gpt-test",
            attributes={
                **chat_attributes(),
                "gen_ai.input.messages": messages_in,
                "gen_ai.output.messages": messages_out,
                "gen_ai.system_instructions": json.dumps([{"type": "text", "content": PROMPT}]),
            },
        ) as span:
            span.add_event("gen_ai.user.message", {"content": PROMPT})
            span.add_event("gen_ai.choice", {"message": json.dumps({"content": ANSWER})})
        with tracer.start_as_current_span(
            "ChatCompletion",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-oi",
                "input.value": PROMPT,
                "output.value": ANSWER,
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": PROMPT,
                "llm.output_messages.0.message.content": ANSWER,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "openai.chat",
            attributes={
                "llm.request.type": "chat",
                "gen_ai.request.model": "gpt-ll",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": PROMPT,
                "gen_ai.completion.0.content": ANSWER,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool search",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.tool.call.arguments": TOOL_ARGS,
                "gen_ai.tool.call.result": TOOL_RESULT,
            },
        ):
            pass


def stored_text(sandbox: Sandbox) -> str:
    return json.dumps([stored.payload for stored in sandbox.traces()])


def test_with_content_capture_the_text_arrives(sandbox: Sandbox) -> None:
    """The control: the markers do reach the payload when capture is on."""
    pipeline = Pipeline(sandbox, capture_content=True)
    content_heavy_run(pipeline)
    assert pipeline.flush()
    checked_payloads(sandbox)
    text = stored_text(sandbox)
    assert all(marker in text for marker in MARKERS), text
    pipeline.close()


def test_with_content_capture_off_no_text_arrives(sandbox: Sandbox) -> None:
    pipeline = Pipeline(sandbox, capture_content=False)
    content_heavy_run(pipeline)
    assert pipeline.flush()
    [payload] = checked_payloads(sandbox)
    text = stored_text(sandbox)
    assert not [marker for marker in MARKERS if marker in text], text
    # The run itself is still described: its calls, tokens and tool are there.
    assert payload["llm_usage"]["api_calls_count"] == 3
    assert payload["sections"]["general"]["tools_used"] == ["search"]
    pipeline.close()


def test_payload_hook_redacts_what_is_sent(sandbox: Sandbox) -> None:
    seen: list[dict[str, Any]] = []

    def redact(payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(payload)
        text = json.dumps(payload).replace("4111 1111 1111 1111", "[card]")
        return dict(json.loads(text))

    pipeline = Pipeline(sandbox, payload_hook=redact)
    content_heavy_run(pipeline)
    assert pipeline.flush()
    [payload] = checked_payloads(sandbox)
    assert len(seen) == 1
    text = stored_text(sandbox)
    assert "4111" not in text
    assert "[card]" in text
    assert payload["name"] == "support"
    pipeline.close()


def test_a_hook_that_raises_drops_the_run(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="infinium_otel")

    def broken(payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("redaction service down")

    pipeline = Pipeline(sandbox, payload_hook=broken)
    for index in range(3):
        content_heavy_run(pipeline, f"run-{index}")
    assert pipeline.flush() is False  # three runs were lost: flush says so
    assert trace_posts(sandbox) == 0
    assert sandbox.traces() == []
    stats = pipeline.exporter.stats()
    assert stats["runs_dropped_by_hook"] == 3
    assert stats["runs_exported"] == 0
    assert any("payload_hook raised" in r.getMessage() for r in caplog.records)
    assert "4111" not in caplog.text
    pipeline.close()


def test_a_hook_returning_none_drops_only_that_run(sandbox: Sandbox) -> None:
    def only_keep_b(payload: dict[str, Any]) -> dict[str, Any] | None:
        return payload if payload["name"] == "b" else None

    pipeline = Pipeline(sandbox, payload_hook=only_keep_b)
    for name in ("a", "b", "c"):
        content_heavy_run(pipeline, name)
    assert pipeline.flush()
    assert [p["name"] for p in checked_payloads(sandbox)] == ["b"]
    assert pipeline.exporter.stats()["runs_dropped_by_hook"] == 2
    pipeline.close()


def test_a_huge_run_is_delivered_within_the_limit_and_marked_truncated(sandbox: Sandbox) -> None:
    pipeline = Pipeline(sandbox, processor_options={"max_queue_size": 10_000})
    tracer = pipeline.tracer
    big_prompt = "p" * 4_000
    big_answer = "a" * 6_000
    with tracer.start_as_current_span("invoke_agent huge", attributes=agent_attributes("huge")):
        for index in range(3_000):
            if index % 3:
                with tracer.start_as_current_span(
                    f"execute_tool t{index}",
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": f"tool-{index % 50}",
                        "gen_ai.tool.call.arguments": big_prompt,
                        "gen_ai.tool.call.result": big_answer,
                    },
                ):
                    pass
            else:
                with tracer.start_as_current_span(
                    "chat",
                    attributes={
                        **chat_attributes(tokens_in=2, tokens_out=1),
                        "gen_ai.input.messages": json.dumps(
                            [{"role": "user", "parts": [{"type": "text", "content": big_prompt}]}]
                        ),
                        "gen_ai.output.messages": json.dumps(
                            [
                                {
                                    "role": "assistant",
                                    "parts": [{"type": "text", "content": big_answer}],
                                }
                            ]
                        ),
                    },
                ):
                    pass
    assert pipeline.flush(30.0)
    [stored] = sandbox.traces()
    payload = checked_payloads(sandbox)[0]
    assert stored.body_bytes <= 1_048_576
    assert payload["environment"]["custom_tags"]["truncated"] == "true"
    assert payload["name"] == "huge"
    # Usage still counts every call, even those whose steps were dropped.
    assert payload["llm_usage"]["api_calls_count"] == 1_000
    assert payload["llm_usage"]["prompt_tokens"] == 2_000
    steps = payload["steps"]
    assert [s["step_number"] for s in steps] == list(range(1, len(steps) + 1))
    assert pipeline.exporter.stats()["delivery_delivered"] == 1
    pipeline.close()
