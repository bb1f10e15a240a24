"""What the frameworks' spans carry, read right: the current GenAI conventions (attributes and
the inference details event, every part type), Strands' content blocks, pydantic-ai's
conversation, OpenInference's call arguments, conversation ids. Real SDK spans, pure conversion."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from conversion.builder import Trace
from conversion.checks import check_payload
from infinium_otel.payload.convert import convert_run

QUESTION = "What is the weather in Paris?"
ANSWER = "It is sunny in Paris."
AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "forecaster"}
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"}


Events = Sequence[tuple[str, dict[str, Any]]]


def convert(
    root_attributes: dict[str, Any],
    children: Sequence[tuple[str, dict[str, Any], Events]] = (),
    *,
    root_events: Events = (),
    root_name: str = "invoke_agent forecaster",
    scope: str = "test.app",
) -> dict[str, Any]:
    trace = Trace()
    root = trace.start(root_name, root_attributes, scope=scope)
    for event_name, event_attributes in root_events:
        root.add_event(event_name, event_attributes)
    at = 1.0
    for name, attributes, events in children:
        trace.span(name, attributes, parent=root, at=at, until=at + 1, events=events, scope=scope)
        at += 2
    root.end()
    return check_payload(convert_run(trace.run(root)))


def parts_message(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": role, "parts": list(parts)}


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def test_messages_in_the_inference_details_event_are_read() -> None:
    details_in = {
        "gen_ai.system_instructions": json.dumps([text("Be brief.")]),
        "gen_ai.input.messages": json.dumps([parts_message("user", text(QUESTION))]),
    }
    details_out = {"gen_ai.output.messages": json.dumps([parts_message("assistant", text(ANSWER))])}
    event = "gen_ai.client.inference.operation.details"
    payload = convert(
        AGENT,
        [("chat gpt-4o-mini", CHAT, [(event, details_in), (event, details_out)])],
        root_events=[(event, details_in), (event, details_out)],
    )
    assert payload["input_summary"] == QUESTION
    assert payload["output_summary"] == ANSWER
    (step,) = payload["steps"]
    assert step["input_preview"] == QUESTION
    assert step["output_preview"] == ANSWER


def test_every_documented_part_type_is_rendered_and_media_bytes_never_are() -> None:
    secret_bytes = "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ="
    output = [
        parts_message(
            "assistant",
            {"type": "reasoning", "content": "The user wants weather."},
            {
                "type": "tool_call",
                "id": "c1",
                "name": "get_weather",
                "arguments": {"city": "Paris"},
            },
        )
    ]
    inputs = [
        parts_message(
            "user",
            text(QUESTION),
            {
                "type": "blob",
                "modality": "image",
                "mime_type": "image/png",
                "content": secret_bytes,
            },
            {"type": "uri", "modality": "image", "uri": "https://example.com/map.png"},
            {"type": "file", "modality": "document", "file_id": "file-123"},
        ),
        parts_message(
            "tool", {"type": "tool_call_response", "id": "c1", "response": {"sky": "clear"}}
        ),
    ]
    chat = {
        **CHAT,
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(output),
    }
    payload = convert(AGENT, [("chat", chat, [])])
    (step,) = payload["steps"]
    shown_in, shown_out = step["input_preview"], step["output_preview"]
    assert secret_bytes not in json.dumps(payload)
    assert "[image/png]" in shown_in
    assert "https://example.com/map.png" in shown_in
    assert "file-123" in shown_in
    assert 'tool result: {"sky":"clear"}' in shown_in
    assert "reasoning: The user wants weather." in shown_out
    assert 'tool_call get_weather({"city":"Paris"})' in shown_out


def test_strands_event_messages_with_content_blocks() -> None:
    root_events = [
        ("gen_ai.user.message", {"content": json.dumps([{"text": QUESTION}])}),
        ("gen_ai.choice", {"message": ANSWER + "\n", "finish_reason": "end_turn"}),
    ]
    chat_events = [
        ("gen_ai.user.message", {"content": json.dumps([{"text": QUESTION}])}),
        (
            "gen_ai.choice",
            {
                "message": json.dumps(
                    [
                        {
                            "toolUse": {
                                "toolUseId": "c1",
                                "name": "get_weather",
                                "input": {"city": "Paris"},
                            }
                        }
                    ]
                )
            },
        ),
    ]
    tool_events = [
        ("gen_ai.tool.message", {"role": "tool", "content": '{"city": "Paris"}', "id": "c1"}),
        (
            "gen_ai.choice",
            {"message": json.dumps([{"toolResult": {"content": [{"json": {"sky": "clear"}}]}}])},
        ),
    ]
    payload = convert(
        AGENT,
        [("chat", CHAT, chat_events), ("execute_tool get_weather", TOOL, tool_events)],
        root_events=root_events,
    )
    assert payload["input_summary"] == QUESTION
    assert payload["output_summary"] == ANSWER
    llm, tool = payload["steps"]
    assert llm["input_preview"] == QUESTION
    assert llm["output_preview"] == 'tool_call get_weather({"city":"Paris"})'
    assert tool["tool_call"]["input_summary"] == '{"city":"Paris"}'
    assert tool["tool_call"]["output_summary"] == 'tool result: {"sky":"clear"}'


def test_tool_result_given_as_content_blocks_is_its_text() -> None:
    tool = {
        **TOOL,
        "gen_ai.tool.call.arguments": json.dumps({"city": "Paris"}),
        "gen_ai.tool.call.result": json.dumps([{"text": "Sunny, 22 C"}]),
    }
    payload = convert(AGENT, [("execute_tool", tool, [])])
    (step,) = payload["steps"]
    assert step["tool_call"]["output_summary"] == "Sunny, 22 C"
    assert step["tool_call"]["input_summary"] == '{"city": "Paris"}'


def test_pydantic_ai_conversation_gives_the_question_not_the_instructions() -> None:
    conversation = [
        parts_message("user", text(QUESTION)),
        parts_message(
            "assistant", {"type": "tool_call", "id": "c1", "name": "get_weather", "arguments": "{}"}
        ),
        parts_message("user", {"type": "tool_call_response", "id": "c1", "result": "Sunny"}),
        parts_message("assistant", text(ANSWER)),
    ]
    root = {
        **AGENT,
        "gen_ai.system_instructions": json.dumps([text("You answer weather questions.")]),
        "pydantic_ai.all_messages": json.dumps(conversation),
        "final_result": ANSWER,
    }
    payload = convert(root, [("chat", CHAT, [])], scope="pydantic-ai")
    assert payload["input_summary"] == QUESTION
    assert payload["output_summary"] == ANSWER
    assert payload["environment"]["framework"] == "pydantic-ai"


def test_agent_input_is_the_task_inside_recorded_call_arguments() -> None:
    arguments = {"task": QUESTION, "stream": False, "reset": True, "images": None}
    root = {"openinference.span.kind": "AGENT", "input.value": json.dumps(arguments)}
    payload = convert(
        root,
        [("llm", {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini"}, [])],
        root_name="weather_agent.run",
        scope="openinference.instrumentation.smolagents",
    )
    assert payload["input_summary"] == QUESTION
    assert payload["name"] == "weather_agent"


def test_run_without_a_name_of_its_own_takes_its_one_outermost_agents_name() -> None:
    trace = Trace()
    root = trace.start("Agent workflow", {"openinference.span.kind": "AGENT"})
    inner = trace.span(
        "weather_agent",
        {"openinference.span.kind": "AGENT", "agent.name": "weather_agent"},
        parent=root,
        at=1,
    )
    trace.span("llm", {"openinference.span.kind": "LLM"}, parent=inner, at=2, until=3)
    inner.end()
    root.end()
    payload = check_payload(convert_run(trace.run(root)))
    assert payload["name"] == "weather_agent"


def test_langgraph_state_output_is_the_final_answer() -> None:
    state = {
        "messages": [
            {"type": "human", "data": {"content": QUESTION, "type": "human"}},
            {"type": "ai", "data": {"content": ANSWER, "type": "ai", "tool_calls": []}},
        ]
    }
    root = {
        "openinference.span.kind": "CHAIN",
        "input.value": json.dumps({"messages": [{"role": "user", "content": QUESTION}]}),
        "output.value": json.dumps(state),
    }
    payload = convert(root, [("llm", {"openinference.span.kind": "LLM"}, [])])
    assert payload["input_summary"] == QUESTION
    assert payload["output_summary"] == ANSWER


def test_conversation_session_and_user_ids_become_environment_tags() -> None:
    root = {**AGENT, "gen_ai.conversation.id": "conv-1", "user.id": "user-7"}
    chat = {**CHAT, "session.id": "sess-3"}
    payload = convert(root, [("chat", chat, [])])
    tags = payload["environment"]["custom_tags"]
    assert tags["gen_ai.conversation.id"] == "conv-1"
    assert tags["session.id"] == "sess-3"
    assert tags["user.id"] == "user-7"


def test_langfuse_session_id_is_a_session_tag() -> None:
    payload = convert({**AGENT, "langfuse.session.id": "lf-9"}, [("chat", CHAT, [])])
    assert payload["environment"]["custom_tags"]["session.id"] == "lf-9"
