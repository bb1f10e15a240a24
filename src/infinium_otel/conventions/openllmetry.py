"""OpenLLMetry (Traceloop) conventions: its own span kinds and entities, GenAI names otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions import names
from infinium_otel.conventions.flattened import flattened_messages, flattened_new_input
from infinium_otel.conventions.messages import Message

SPAN_KIND = names.TRACELOOP_SPAN_KIND
REQUEST_TYPE = names.LLM_REQUEST_TYPE
ENTITY_NAME = (names.TRACELOOP_ENTITY_NAME,)
WORKFLOW_NAME = (names.TRACELOOP_WORKFLOW_NAME,)
TOTAL_TOKENS = (names.LLM_USAGE_TOTAL_TOKENS,)
ENTITY_INPUT = names.TRACELOOP_ENTITY_INPUT
ENTITY_OUTPUT = names.TRACELOOP_ENTITY_OUTPUT

_PROMPT_PREFIX = names.GEN_AI_PROMPT_PREFIX
_COMPLETION_PREFIX = names.GEN_AI_COMPLETION_PREFIX


def input_messages(attributes: Mapping[str, Any]) -> list[Message]:
    """Flattened ``gen_ai.prompt.{i}.*`` messages."""
    if (
        attributes.get(_PROMPT_PREFIX + "0.content") is None
        and attributes.get(_PROMPT_PREFIX + "0.role") is None
    ):
        return []
    return flattened_messages(attributes, _PROMPT_PREFIX)


def new_input_text(attributes: Mapping[str, Any]) -> str | None:
    """``render_new_input(input_messages(attributes))`` rendering only the messages after the
    last assistant one; None when there are none to show (or no prompt messages)."""
    if (
        attributes.get(_PROMPT_PREFIX + "0.content") is None
        and attributes.get(_PROMPT_PREFIX + "0.role") is None
    ):
        return None
    return flattened_new_input(attributes, _PROMPT_PREFIX)


def output_messages(attributes: Mapping[str, Any]) -> list[Message]:
    """Flattened ``gen_ai.completion.{i}.*`` messages."""
    if (
        attributes.get(_COMPLETION_PREFIX + "0.content") is None
        and attributes.get(_COMPLETION_PREFIX + "0.role") is None
        and attributes.get(_COMPLETION_PREFIX + "0.tool_calls.0.name") is None
    ):
        return []
    return flattened_messages(attributes, _COMPLETION_PREFIX, "", "assistant")


def entity_text(attributes: Mapping[str, Any], key: str) -> str | None:
    """``traceloop.entity.input`` / ``.output``: a JSON string, kept as its raw text."""
    value = attributes.get(key)
    if isinstance(value, str):
        return value or None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") or None
    return None
