"""Messages flattened into indexed attributes (``prefix.{i}.field``): OpenLLMetry, OpenInference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions.messages import Message, message_from
from infinium_otel.conventions.new_input import new_input_of

__all__ = ["flattened_messages", "flattened_new_input"]


def flattened_messages(
    attributes: Mapping[str, Any], prefix: str, inner: str = "", default_role: str = "user"
) -> list[Message]:
    """Messages under ``prefix`` (ending in "."), each field below ``inner`` (e.g. "message.").

    ``gen_ai.prompt.0.role`` / ``gen_ai.prompt.0.content`` / ``gen_ai.prompt.0.tool_calls.0.name``;
    ``llm.input_messages.0.message.role`` / ``...message.contents.0.message_content.text`` /
    ``...message.tool_calls.0.tool_call.function.name``.
    """
    grouped = _grouped(attributes, prefix, inner)
    messages: list[Message] = []
    for index in sorted(grouped):
        message = message_from(_assemble(grouped[index]), default_role)
        if message:
            messages.append(message)
    return messages


def flattened_new_input(attributes: Mapping[str, Any], prefix: str, inner: str = "") -> str | None:
    """``render_new_input(flattened_messages(attributes, prefix, inner))`` rendering only the
    messages after the last assistant one; None when none of them is shown (the caller then
    renders them all, as before)."""
    grouped = _grouped(attributes, prefix, inner)
    return new_input_of(_assemble(grouped[index]) for index in sorted(grouped, reverse=True))


def _grouped(attributes: Mapping[str, Any], prefix: str, inner: str) -> dict[int, dict[str, Any]]:
    """Each message's fields by its index."""
    grouped: dict[int, dict[str, Any]] = {}
    start = len(prefix)
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index_text, _, field = key[start:].partition(".")
        if not index_text.isdigit() or not field.startswith(inner):
            continue
        grouped.setdefault(int(index_text), {})[field[len(inner) :]] = value
    return grouped


def _assemble(fields: dict[str, Any]) -> dict[str, Any]:
    """One message object from its flattened fields."""
    contents: dict[int, Any] = {}
    calls: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        if key.startswith("contents."):
            index_text, _, rest = key[9:].partition(".")
            if index_text.isdigit() and rest.endswith("text"):
                contents[int(index_text)] = value
        elif key.startswith("tool_calls."):
            index_text, _, rest = key[11:].partition(".")
            if index_text.isdigit():
                name = rest.rsplit(".", 1)[-1]
                if name in ("name", "arguments"):
                    calls.setdefault(int(index_text), {})[name] = value
    message: dict[str, Any] = {"role": fields.get("role")}
    content = fields.get("content")
    if content is None and contents:
        content = [contents[i] for i in sorted(contents)]
    message["content"] = content
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message
