"""OpenTelemetry GenAI semantic conventions: current names first, then the older ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event

from infinium_otel.conventions import names
from infinium_otel.conventions.messages import Message, message_from, messages_from
from infinium_otel.conventions.values import is_mapping, json_value, to_json

OPERATION = names.GEN_AI_OPERATION_NAME
AGENT_NAME = (names.GEN_AI_AGENT_NAME,)
WORKFLOW_NAME = (names.GEN_AI_WORKFLOW_NAME,)
MODEL = (names.GEN_AI_RESPONSE_MODEL, names.GEN_AI_REQUEST_MODEL)
PROVIDER = (names.GEN_AI_PROVIDER_NAME, names.GEN_AI_SYSTEM)
INPUT_TOKENS = (names.GEN_AI_USAGE_INPUT_TOKENS, names.GEN_AI_USAGE_PROMPT_TOKENS)
OUTPUT_TOKENS = (names.GEN_AI_USAGE_OUTPUT_TOKENS, names.GEN_AI_USAGE_COMPLETION_TOKENS)
TOTAL_TOKENS = (names.GEN_AI_USAGE_TOTAL_TOKENS,)
COST = (names.OPERATION_COST, names.GEN_AI_USAGE_COST)
TEMPERATURE = (names.GEN_AI_REQUEST_TEMPERATURE,)
FINISH_REASONS = (names.GEN_AI_RESPONSE_FINISH_REASONS,)
TOOL_NAME = (names.GEN_AI_TOOL_NAME,)
TOOL_ARGUMENTS = (names.GEN_AI_TOOL_CALL_ARGUMENTS,)
TOOL_RESULT = (names.GEN_AI_TOOL_CALL_RESULT,)
CONVERSATION_ID = (names.GEN_AI_CONVERSATION_ID,)

INPUT_MESSAGES = names.GEN_AI_INPUT_MESSAGES
OUTPUT_MESSAGES = names.GEN_AI_OUTPUT_MESSAGES
SYSTEM_INSTRUCTIONS = names.GEN_AI_SYSTEM_INSTRUCTIONS
DETAILS_EVENT = names.GEN_AI_INFERENCE_DETAILS_EVENT

# Span events of the older conventions: event name -> role of its message.
_INPUT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_MESSAGE_KEYS = frozenset({"role", "content", "parts", "tool_calls"})
_CONTENT_KEYS = ("content", "gen_ai.event.content", "message", "body")


def message_source(attributes: Mapping[str, Any], events: Sequence[Event], key: str) -> Any:
    """``key`` (input/output messages, system instructions) from the span's attributes, else
    from its ``gen_ai.client.inference.operation.details`` event (latest conventions)."""
    value = attributes.get(key)
    if value is not None:
        return value
    for event in events:
        if event.name == DETAILS_EVENT:
            found = _event_attributes(event).get(key)
            if found is not None:
                return found
    return None


def input_messages(attributes: Mapping[str, Any], events: Sequence[Event]) -> list[Message]:
    """The call's input: system instructions + ``gen_ai.input.messages`` (attribute or details
    event), else the older per-message span events."""
    messages: list[Message] = []
    instructions = message_source(attributes, events, SYSTEM_INSTRUCTIONS)
    if instructions is not None:
        parsed = json_value(instructions)
        if isinstance(parsed, list):
            message = message_from({"role": "system", "parts": parsed}, "system")
            if message:
                messages.append(message)
        else:
            messages.extend(messages_from(instructions, "system"))
    current = message_source(attributes, events, INPUT_MESSAGES)
    if current is not None:
        messages.extend(messages_from(current))
        return messages
    for event in events:
        name = event.name
        if name in _INPUT_EVENTS:
            messages.extend(_event_messages(event, _INPUT_EVENTS[name]))
        elif name == "gen_ai.content.prompt":
            value = _event_attributes(event).get("gen_ai.prompt")
            if value is not None:
                messages.extend(messages_from(value))
    return messages


def output_messages(attributes: Mapping[str, Any], events: Sequence[Event]) -> list[Message]:
    """The call's output: ``gen_ai.output.messages`` (attribute or details event), else
    ``gen_ai.choice`` / completion events."""
    current = message_source(attributes, events, OUTPUT_MESSAGES)
    if current is not None:
        return messages_from(current, "assistant")
    messages: list[Message] = []
    for event in events:
        if event.name == "gen_ai.choice":
            messages.extend(_event_messages(event, "assistant"))
        elif event.name == "gen_ai.content.completion":
            value = _event_attributes(event).get("gen_ai.completion")
            if value is not None:
                messages.extend(messages_from(value, "assistant"))
    return messages


def _event_attributes(event: Event) -> Mapping[str, Any]:
    attributes = event.attributes
    return attributes if attributes is not None else {}


def _event_messages(event: Event, role: str) -> list[Message]:
    attributes = _event_attributes(event)
    for key in _CONTENT_KEYS:
        value = attributes.get(key)
        if value is None:
            continue
        parsed = json_value(value)
        if is_mapping(parsed):
            inner = parsed.get("message")
            source = inner if is_mapping(inner) else parsed
            message = message_from(source, role)
            if message is None and source is parsed and not _MESSAGE_KEYS & parsed.keys():
                # Not a message but the event's payload itself (Strands' tool arguments).
                rendered = to_json(parsed)
                return [(role, rendered)] if rendered else []
            return [message] if message else []
        if isinstance(parsed, list):
            # The event is one message; a list is its content (parts or Converse blocks).
            message = message_from({"role": role, "content": parsed}, role)
            return [message] if message else []
        return messages_from(value, role)
    flat = {k[8:]: v for k, v in attributes.items() if k.startswith("message.")}
    if flat:
        message = message_from(flat, role)
        return [message] if message else []
    return []
