"""OpenInference semantic conventions (Arize Phoenix instrumentations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions import names
from infinium_otel.conventions.flattened import flattened_messages
from infinium_otel.conventions.messages import Message, messages_from
from infinium_otel.conventions.values import json_value

SPAN_KIND = names.OPENINFERENCE_SPAN_KIND
AGENT_NAME = (names.AGENT_NAME,)
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

_INPUT_PREFIX = names.LLM_INPUT_MESSAGES_PREFIX
_OUTPUT_PREFIX = names.LLM_OUTPUT_MESSAGES_PREFIX


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
