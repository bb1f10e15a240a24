"""OpenInference semantic conventions (Arize Phoenix instrumentations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions import names
from infinium_otel.conventions.flattened import flattened_messages, flattened_new_input
from infinium_otel.conventions.messages import (
    Message,
    final_answer,
    langchain_message,
    message_from,
    messages_from,
    question,
    render,
)
from infinium_otel.conventions.values import is_mapping, json_value, to_json

SPAN_KIND = names.OPENINFERENCE_SPAN_KIND
AGENT_NAME = (names.AGENT_NAME,)
GRAPH_NODE_ID = names.GRAPH_NODE_ID
MODEL = (names.LLM_MODEL_NAME, names.EMBEDDING_MODEL_NAME)
PROVIDER = (names.LLM_PROVIDER, names.LLM_SYSTEM)
INPUT_TOKENS = (names.LLM_TOKEN_COUNT_PROMPT,)
OUTPUT_TOKENS = (names.LLM_TOKEN_COUNT_COMPLETION,)
TOTAL_TOKENS = (names.LLM_TOKEN_COUNT_TOTAL,)
COST = (names.LLM_COST_TOTAL,)
TOOL_NAME = (names.TOOL_NAME,)
INVOCATION_PARAMETERS = names.LLM_INVOCATION_PARAMETERS
INPUT_VALUE = names.INPUT_VALUE
OUTPUT_VALUE = names.OUTPUT_VALUE
INPUT_MIME = names.INPUT_MIME_TYPE
OUTPUT_MIME = names.OUTPUT_MIME_TYPE

SMOLAGENTS_SCOPE = "openinference.instrumentation.smolagents"

_INPUT_PREFIX = names.LLM_INPUT_MESSAGES_PREFIX
_OUTPUT_PREFIX = names.LLM_OUTPUT_MESSAGES_PREFIX


def invocation_parameters(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``llm.invocation_parameters`` (a JSON string) as a mapping; empty when absent or invalid."""
    parsed = json_value(attributes.get(INVOCATION_PARAMETERS))
    return parsed if is_mapping(parsed) else {}


def input_messages(attributes: Mapping[str, Any]) -> list[Message]:
    if not has_input_messages(attributes):
        return []
    return flattened_messages(attributes, _INPUT_PREFIX, "message.")


def new_input_text(attributes: Mapping[str, Any]) -> str | None:
    """``render_new_input(input_messages(attributes))`` rendering only the messages after the
    last assistant one; None when there are none to show (or no input messages)."""
    if not has_input_messages(attributes):
        return None
    return flattened_new_input(attributes, _INPUT_PREFIX, "message.")


def has_input_messages(attributes: Mapping[str, Any]) -> bool:
    """Whether ``input_messages`` looks further than the first message's attributes."""
    return (
        attributes.get(_INPUT_PREFIX + "0.message.role") is not None
        or attributes.get(_INPUT_PREFIX + "0.message.content") is not None
    )


def output_messages(attributes: Mapping[str, Any]) -> list[Message]:
    if (
        attributes.get(_OUTPUT_PREFIX + "0.message.role") is None
        and attributes.get(_OUTPUT_PREFIX + "0.message.content") is None
    ):
        return []
    return flattened_messages(attributes, _OUTPUT_PREFIX, "message.", "assistant")


# Keys under which an agent's JSON-encoded call arguments hold the task (smolagents' ``run(task)``,
# LangChain's ``{"input": ...}``); the first present string wins.
_TASK_KEYS = ("task", "input", "question", "query", "prompt", "user_input")


def agent_input(attributes: Mapping[str, Any]) -> str | None:
    """An agent's question from ``input.value``: the task inside JSON-encoded call arguments,
    or the user's last message when the value is a conversation; None otherwise."""
    parsed = json_value(attributes.get(INPUT_VALUE))
    if not is_mapping(parsed):
        parsed = {}
    for key in _TASK_KEYS:
        value = parsed.get(key)
        if isinstance(value, str) and value:
            return value
    task = _crewai_task_output(attributes)
    if task is not None and isinstance(task.get("description"), str):
        return str(task["description"]) or None
    for holder in (parsed, parsed.get("kwargs")):
        if is_mapping(holder) and isinstance(holder.get("messages"), list):
            return question(holder["messages"])
    return None


def agent_name(span_name: str, scope_name: str | None) -> str | None:
    """The agent's name where an instrumentor puts it only in the span name: smolagents names
    its agent span ``"<agent name>.run"``."""
    if scope_name == SMOLAGENTS_SCOPE and span_name.endswith(".run") and len(span_name) > 4:
        return span_name[:-4]
    return None


def _crewai_task_output(attributes: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """CrewAI's task span records its task only in its output (a TaskOutput: description, raw)."""
    value = attributes.get(OUTPUT_VALUE)
    if not isinstance(value, str) or '"raw"' not in value:
        return None
    parsed = json_value(value)
    if is_mapping(parsed) and "raw" in parsed and "description" in parsed:
        return parsed
    return None


def agent_output(attributes: Mapping[str, Any]) -> str | None:
    """An agent's answer from ``output.value`` when it is a conversation (LangGraph's state)."""
    parsed = json_value(attributes.get(OUTPUT_VALUE))
    if is_mapping(parsed) and isinstance(parsed.get("raw"), str) and parsed["raw"]:
        return str(parsed["raw"])  # CrewAI's TaskOutput / CrewOutput
    if is_mapping(parsed) and isinstance(parsed.get("messages"), list):
        conversation = parsed["messages"]
        # The final answer; else (a node that asked for a tool) what its last message says.
        return final_answer(conversation) or render(messages_from(conversation[-1:], "assistant"))
    return None


def tool_arguments(attributes: Mapping[str, Any]) -> str | None:
    """A tool's arguments from ``input.value``: the keyword arguments alone when the value is a
    recorded Python call (``{"args": [], "kwargs": {...}}``, smolagents)."""
    parsed = json_value(attributes.get(INPUT_VALUE))
    if is_mapping(parsed) and is_mapping(parsed.get("kwargs")) and not parsed.get("args"):
        return to_json(parsed["kwargs"])
    return None


def value_text(attributes: Mapping[str, Any], key: str) -> list[Message]:
    """``input.value`` / ``output.value`` as one message of raw text (JSON stays JSON, except a
    serialised LangChain message, which is its content)."""
    value = attributes.get(key)
    if value is None:
        return []
    role = "user" if key == INPUT_VALUE else "assistant"
    if isinstance(value, str):
        if value.startswith('{"') and ('"data"' in value or '"lc"' in value):
            parsed = json_value(value)
            message = langchain_message(parsed) if is_mapping(parsed) else None
            if message is not None:
                said = message_from(message, role)
                if said:
                    return [said]
        return [(role, value)] if value else []
    return messages_from(value, role)
