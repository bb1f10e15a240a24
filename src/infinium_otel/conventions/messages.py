"""Chat messages in any of the shapes the conventions use, reduced to (role, text) pairs.

Shapes read: the GenAI parts model (``{"role", "parts": [{"type": "text",
"content"}, {"type": "tool_call", ...}]}``), the older OpenAI-style messages
(``{"role", "content": str | [{"type": "text", "text"}], "tool_calls"}``) and
plain strings. Rendering keeps what a reader of a step needs: the new input of
a call (the messages after the last assistant turn) and the whole output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions.values import json_value, text, to_json

__all__ = ["Message", "message_from", "messages_from", "render", "render_new_input"]

Message = tuple[str, str]

_MAX_MESSAGES = 200


def messages_from(value: Any, default_role: str = "user") -> list[Message]:
    """Messages from a JSON string, a list of message objects or a single message."""
    parsed = json_value(value)
    if parsed is None:
        plain = text(value)
        return [(default_role, plain)] if plain else []
    if type(parsed) is not list and isinstance(parsed, Mapping):
        if isinstance(parsed.get("messages"), list):
            parsed = parsed["messages"]
        else:
            message = message_from(parsed, default_role)
            return [message] if message else []
    if isinstance(parsed, list):
        out: list[Message] = []
        for item in parsed[-_MAX_MESSAGES:]:
            message = message_from(item, default_role)
            if message:
                out.append(message)
        return out
    plain = text(parsed)
    return [(default_role, plain)] if plain else []


def message_from(item: Any, default_role: str = "user") -> Message | None:
    """One message object (any shape) as (role, text); None when it has no text."""
    if type(item) is not dict:
        if isinstance(item, str):
            return (default_role, item) if item else None
        if not isinstance(item, Mapping):
            return None
    role = item.get("role")
    role = (role if type(role) is str else text(role)) or default_role
    nested = item.get("message")
    if isinstance(nested, Mapping) and "parts" not in item and "content" not in item:
        return message_from(nested, role)
    pieces: list[str] = []
    parts = item.get("parts")
    if isinstance(parts, list):
        for part in parts:
            piece = _part_text(part)
            if piece:
                pieces.append(piece)
    content = item.get("content")
    if isinstance(content, str):
        if content:
            pieces.append(content)
    elif isinstance(content, list):
        for part in content:
            piece = _part_text(part)
            if piece:
                pieces.append(piece)
    elif content is not None:
        rendered = text(content)
        if rendered:
            pieces.append(rendered)
    tool_calls = item.get("tool_calls")
    if isinstance(tool_calls, list):
        pieces.extend(p for p in (_tool_call_text(call) for call in tool_calls) if p)
    if not pieces:
        return None
    return (role, "\n".join(pieces))


def _part_text(part: Any) -> str | None:
    if type(part) is not dict:
        if isinstance(part, str):
            return part or None
        if not isinstance(part, Mapping):
            return None
    kind = part.get("type")
    if kind == "text":
        value = part.get("content")
        if type(value) is str and value:
            return value
    if kind == "tool_call":
        return _tool_call_text(part)
    if kind == "tool_call_response":
        response = part.get("response", part.get("result"))
        rendered = response if isinstance(response, str) else to_json(response)
        return f"tool result: {rendered}" if rendered else None
    for key in ("content", "text"):
        value = part.get(key)
        if isinstance(value, str) and value:
            return value
    if kind in ("blob", "uri", "file", "image", "image_url", "input_audio"):
        mime = text(part.get("mime_type")) or text(part.get("modality")) or str(kind)
        return f"[{mime}]"
    return None


def _tool_call_text(call: Any) -> str | None:
    if not isinstance(call, Mapping):
        return None
    function = call.get("function")
    source = function if isinstance(function, Mapping) else call
    name = text(source.get("name")) or "tool"
    arguments = source.get("arguments")
    rendered = arguments if isinstance(arguments, str) else to_json(arguments)
    return f"tool_call {name}({rendered or ''})"


def render(messages: list[Message]) -> str | None:
    """One message as its text; several as "role: text" lines."""
    if not messages:
        return None
    if len(messages) == 1:
        return messages[0][1]
    return "\n".join(f"{role}: {body}" for role, body in messages)


def render_new_input(messages: list[Message]) -> str | None:
    """The input a call added: the messages after the last assistant turn, system prompts aside.

    In an agent loop every call repeats the whole history; what is new is the
    latest user message or the tool results that answer the last tool call.
    """
    start = 0
    for index in range(len(messages) - 1, -1, -1):
        if messages[index][0] == "assistant":
            start = index + 1
            break
    tail = [m for m in messages[start:] if m[0] not in ("system", "developer")]
    if not tail:
        tail = [m for m in messages if m[0] not in ("system", "developer")][-1:] or messages[-1:]
    return render(tail)
