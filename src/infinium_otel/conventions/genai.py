"""OpenTelemetry GenAI semantic conventions: current names first, then the older ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event

from infinium_otel.conventions.messages import Message, message_from, messages_from
from infinium_otel.conventions.values import json_value

OPERATION = "gen_ai.operation.name"
AGENT_NAME = ("gen_ai.agent.name",)
WORKFLOW_NAME = ("gen_ai.workflow.name",)
MODEL = ("gen_ai.response.model", "gen_ai.request.model")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
TOTAL_TOKENS = ("gen_ai.usage.total_tokens",)
COST = ("operation.cost", "gen_ai.usage.cost")
TEMPERATURE = ("gen_ai.request.temperature",)
FINISH_REASONS = ("gen_ai.response.finish_reasons",)
TOOL_NAME = ("gen_ai.tool.name",)
TOOL_ARGUMENTS = ("gen_ai.tool.call.arguments",)
TOOL_RESULT = ("gen_ai.tool.call.result",)

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"

# Span events of the older conventions: event name -> role of its message.
_INPUT_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CONTENT_KEYS = ("content", "gen_ai.event.content", "message", "body")


def input_messages(attributes: Mapping[str, Any], events: Sequence[Event]) -> list[Message]:
    """The call's input: system instructions + ``gen_ai.input.messages``, else the span events."""
    messages: list[Message] = []
    instructions = attributes.get(SYSTEM_INSTRUCTIONS)
    if instructions is not None:
        parsed = json_value(instructions)
        if isinstance(parsed, list):
            message = message_from({"role": "system", "parts": parsed}, "system")
            if message:
                messages.append(message)
        else:
            messages.extend(messages_from(instructions, "system"))
    current = attributes.get(INPUT_MESSAGES)
    if current is not None:
        messages.extend(messages_from(current))
        return messages
    if messages or not events:
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
    """The call's output: ``gen_ai.output.messages``, else ``gen_ai.choice`` / completion events."""
    current = attributes.get(OUTPUT_MESSAGES)
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
        if isinstance(parsed, Mapping):
            inner = parsed.get("message")
            source = inner if isinstance(inner, Mapping) else parsed
            message = message_from(source, role)
            return [message] if message else []
        return messages_from(value, role)
    flat = {k[8:]: v for k, v in attributes.items() if k.startswith("message.")}
    if flat:
        message = message_from(flat, role)
        return [message] if message else []
    return []
