"""OpenInference semantic conventions (Arize Phoenix instrumentations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions.flattened import flattened_messages
from infinium_otel.conventions.messages import Message, messages_from
from infinium_otel.conventions.values import json_value

SPAN_KIND = "openinference.span.kind"
AGENT_NAME = ("agent.name",)
MODEL = ("llm.model_name", "embedding.model_name")
PROVIDER = ("llm.provider", "llm.system")
INPUT_TOKENS = ("llm.token_count.prompt",)
OUTPUT_TOKENS = ("llm.token_count.completion",)
TOTAL_TOKENS = ("llm.token_count.total",)
COST = ("llm.cost.total",)
TOOL_NAME = ("tool.name",)
INVOCATION_PARAMETERS = "llm.invocation_parameters"
INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
INPUT_MIME = "input.mime_type"
OUTPUT_MIME = "output.mime_type"

_INPUT_PREFIX = "llm.input_messages."
_OUTPUT_PREFIX = "llm.output_messages."


def invocation_parameters(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``llm.invocation_parameters`` (a JSON string) as a mapping; empty when absent or invalid."""
    parsed = json_value(attributes.get(INVOCATION_PARAMETERS))
    return parsed if isinstance(parsed, Mapping) else {}


def input_messages(attributes: Mapping[str, Any]) -> list[Message]:
    if (
        attributes.get(_INPUT_PREFIX + "0.message.role") is None
        and attributes.get(_INPUT_PREFIX + "0.message.content") is None
    ):
        return []
    return flattened_messages(attributes, _INPUT_PREFIX, "message.")


def output_messages(attributes: Mapping[str, Any]) -> list[Message]:
    if (
        attributes.get(_OUTPUT_PREFIX + "0.message.role") is None
        and attributes.get(_OUTPUT_PREFIX + "0.message.content") is None
    ):
        return []
    return flattened_messages(attributes, _OUTPUT_PREFIX, "message.", "assistant")


def value_text(attributes: Mapping[str, Any], key: str) -> list[Message]:
    """``input.value`` / ``output.value`` as one message of raw text (JSON stays JSON)."""
    value = attributes.get(key)
    if value is None:
        return []
    role = "user" if key == INPUT_VALUE else "assistant"
    if isinstance(value, str):
        return [(role, value)] if value else []
    return messages_from(value, role)
