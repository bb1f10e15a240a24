"""Chat messages in any of the shapes the conventions use, reduced to (role, text) pairs.

Shapes read: the GenAI parts model (``{"role", "parts": [{"type": "text",
"content"}, {"type": "tool_call", ...}]}``, every documented part type; media
shows as a marker, never its bytes), the older OpenAI-style messages
(``{"role", "content": str | [{"type": "text", "text"}], "tool_calls"}``),
Converse-style content blocks (``{"text"}``, ``{"toolUse"}``, ``{"toolResult"}``:
Strands, Bedrock), LangChain's serialised messages and plain strings. Rendering
keeps what a reader of a step needs: the new input of a call (the messages after
the last assistant turn) and the whole output; ``question`` and ``final_answer``
give an agent's input and output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions.values import (
    is_mapping,
    json_value,
    text,
    to_json,
)

__all__ = [
    "Message",
    "content_text",
    "final_answer",
    "langchain_message",
    "message_from",
    "messages_from",
    "question",
    "render",
    "tool_call_text",
]

Message = tuple[str, str]

_MAX_MESSAGES = 200
# Keys of a message in the GenAI parts model that ``message_from`` reads nothing else from.
_PARTS_MESSAGE_KEYS = frozenset({"role", "parts", "finish_reason", "name", "id"})


def messages_from(value: Any, default_role: str = "user") -> list[Message]:
    """Messages from a JSON string, a list of message objects or a single message."""
    parsed = json_value(value)
    if parsed is None:
        plain = text(value)
        return [(default_role, plain)] if plain else []
    if type(parsed) is not list and is_mapping(parsed):
        if isinstance(parsed.get("messages"), list):
            parsed = parsed["messages"]
        else:
            message = message_from(parsed, default_role)
            return [message] if message else []
    if isinstance(parsed, list):
        out: list[Message] = []
        for item in parsed if len(parsed) <= _MAX_MESSAGES else parsed[-_MAX_MESSAGES:]:
            if type(item) is dict and item.keys() <= _PARTS_MESSAGE_KEYS:
                role = item.get("role")
                parts = item.get("parts")
                if type(role) is str and role and type(parts) is list:
                    # The parts model: message_from's first case, inline; one text part
                    # (most messages) is its text, as _add_parts finds it.
                    if len(parts) == 1:
                        part = parts[0]
                        if type(part) is dict and part.get("type") == "text":
                            said = part.get("content", part.get("text"))
                            if type(said) is str and said:
                                out.append((role, said))
                                continue
                    pieces: list[str] = []
                    _add_parts(parts, pieces)
                    if pieces:
                        out.append((role, pieces[0] if len(pieces) == 1 else "\n".join(pieces)))
                    continue
            message = message_from(item, default_role)
            if message:
                out.append(message)
        return out
    plain = text(parsed)
    return [(default_role, plain)] if plain else []


def message_from(item: Any, default_role: str = "user") -> Message | None:
    """One message object (any shape) as (role, text); None when it has no text."""
    if type(item) is dict and item.keys() <= _PARTS_MESSAGE_KEYS:
        # The GenAI parts model (most messages): a role and its parts, nothing else to read.
        role = item.get("role")
        parts = item.get("parts")
        if type(role) is str and role and type(parts) is list:
            pieces: list[str] = []
            _add_parts(parts, pieces)
            if not pieces:
                return None
            return (role, pieces[0] if len(pieces) == 1 else "\n".join(pieces))
    if type(item) is not dict:
        if isinstance(item, str):
            return (default_role, item) if item else None
        if not is_mapping(item):
            return None
    if "role" not in item:
        item = langchain_message(item) or item
    role = item.get("role")
    role = (role if type(role) is str else text(role)) or default_role
    nested = item.get("message")
    if nested is not None and is_mapping(nested) and "parts" not in item and "content" not in item:
        return message_from(nested, role)
    pieces = []
    parts = item.get("parts")
    if isinstance(parts, list):
        _add_parts(parts, pieces)
    content = item.get("content")
    if isinstance(content, str):
        if content:
            pieces.append(content)
    elif isinstance(content, list):
        _add_parts(content, pieces)
    elif content is not None:
        rendered = text(content)
        if rendered:
            pieces.append(rendered)
    tool_calls = item.get("tool_calls")
    if isinstance(tool_calls, list):
        pieces.extend(p for p in (tool_call_text(call) for call in tool_calls) if p)
    if not pieces:
        return None
    return (role, "\n".join(pieces))


_MEDIA_PARTS = frozenset({"blob", "uri", "file", "image", "image_url", "input_audio"})
# Content blocks without a "type" (Bedrock Converse, Strands): key -> how to render.
_MEDIA_BLOCKS = ("image", "document", "video", "audio")


def _add_parts(parts: list[Any], pieces: list[str]) -> None:
    """The text of each part onto ``pieces``; a plain text part (most are) read at once."""
    for part in parts:
        if type(part) is dict:
            kind = part.get("type")
            if kind == "text":
                value = part.get("content", part.get("text"))
                if type(value) is str and value:
                    pieces.append(value)
                    continue
            elif kind == "tool_call" or kind == "tool_call_response":
                # The parts model's call and result: _part_text's cases for them, at once.
                piece = tool_call_text(part) if kind == "tool_call" else _response_text(part)
                if piece:
                    pieces.append(piece)
                continue
        piece = _part_text(part)
        if piece:
            pieces.append(piece)


def _part_text(part: Any) -> str | None:
    """One content part as text. Media never contributes its bytes, only a marker."""
    if type(part) is not dict:
        if isinstance(part, str):
            return part or None
        if not is_mapping(part):
            return None
    kind = part.get("type")
    if kind == "text":
        value = part.get("content", part.get("text"))
        if type(value) is str and value:
            return value
    if kind in ("tool_call", "function_call", "tool_use"):
        return tool_call_text(part)
    if kind in ("tool_call_response", "function_call_output", "tool_result"):
        return _response_text(part)
    if kind in ("reasoning", "thinking"):
        value = part.get("content", part.get("thinking", part.get("text")))
        rendered = text(value) if not isinstance(value, str) else value
        return f"reasoning: {rendered}" if rendered else None
    if isinstance(kind, str) and kind in _MEDIA_PARTS:  # a JSON list or object is unhashable
        return _media_text(part, str(kind))
    if kind is None:
        block = _block_text(part)
        if block is not None:
            return block
    for key in ("content", "text"):
        value = part.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _response_text(part: Mapping[str, Any]) -> str | None:
    """A tool result part's text: its response, result, output or else content."""
    if "response" in part:  # part.get("response", part.get("result", part.get("output")))
        response = part["response"]
    else:
        response = part["result"] if "result" in part else part.get("output")
    if response is None:
        response = part.get("content")
    return _tool_result_text(response)


def _media_text(part: Mapping[str, Any], kind: str) -> str:
    label = text(part.get("mime_type")) or text(part.get("modality")) or kind
    where = part.get("uri") if kind == "uri" else part.get("file_id") if kind == "file" else None
    if isinstance(where, str) and where and not where.startswith("data:"):
        return f"[{label} {where}]"
    return f"[{label}]"


def _block_text(block: Mapping[str, Any]) -> str | None:
    """A Converse-style block (``{"text"}``, ``{"toolUse"}``, ``{"toolResult"}``, ...)."""
    use = block.get("toolUse")
    if is_mapping(use):
        return tool_call_text({"name": use.get("name"), "arguments": use.get("input")})
    result = block.get("toolResult")
    if is_mapping(result):
        return _tool_result_text(result.get("content"))
    reasoning = block.get("reasoningContent")
    if is_mapping(reasoning):
        inner = reasoning.get("reasoningText")
        said = text(inner.get("text")) if is_mapping(inner) else None
        return f"reasoning: {said}" if said else None
    if "json" in block and len(block) == 1:
        return to_json(block["json"])
    for key in _MEDIA_BLOCKS:
        media = block.get(key)
        if is_mapping(media):
            label = text(media.get("format"))
            return f"[{key}/{label}]" if label else f"[{key}]"
    return None


_TEXT_OR_JSON = frozenset({"text", "json"})


def _tool_result_text(response: Any) -> str | None:
    if response is None:
        return None
    kind = type(response)
    if kind is dict:  # the common case: a JSON object
        if response.keys() <= _TEXT_OR_JSON:
            inner = response.get("text", response.get("json"))
            rendered: str | None = inner if isinstance(inner, str) else to_json(inner)
        else:
            rendered = to_json(response)
    elif isinstance(response, list) and all(is_mapping(p) for p in response):
        pieces = [p for p in (_part_text(item) for item in response) if p]
        rendered = "\n".join(pieces) if pieces else to_json(response)
    elif is_mapping(response) and response.keys() <= _TEXT_OR_JSON:
        inner = response.get("text", response.get("json"))
        rendered = inner if isinstance(inner, str) else to_json(inner)
    else:
        rendered = response if isinstance(response, str) else to_json(response)
    return f"tool result: {rendered}" if rendered else None


def tool_call_text(call: Any) -> str | None:
    """A tool call part (or an older ``tool_calls`` item) as ``tool_call name(arguments)``."""
    if type(call) is not dict and not is_mapping(call):
        return None
    function = call.get("function")
    source = call if function is None or not is_mapping(function) else function
    name = source.get("name")
    if type(name) is not str:
        name = text(name)
    if not name:
        name = "tool"
    arguments = source["arguments"] if "arguments" in source else source.get("input")
    rendered = arguments if isinstance(arguments, str) else to_json(arguments)
    return f"tool_call {name}({rendered or ''})"


def render(messages: list[Message]) -> str | None:
    """One message as its text; several as "role: text" lines."""
    if not messages:
        return None
    if len(messages) == 1:
        return messages[0][1]
    return "\n".join(f"{role}: {body}" for role, body in messages)


_LANGCHAIN_ROLES = {
    "human": "user",
    "ai": "assistant",
    "tool": "tool",
    "system": "system",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "ToolMessage": "tool",
    "SystemMessage": "system",
}


def langchain_message(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A LangChain message as serialised by ``message_to_dict`` (``{"type", "data"}``) or by
    ``dumpd`` (``{"lc", "id", "kwargs"}``), as ``{"role", "content", "tool_calls"}``; None for
    anything else."""
    for key in ("data", "kwargs"):
        body = item.get(key)
        if not is_mapping(body) or "content" not in body:
            continue
        kind = body.get("type") or item.get("type")
        if not isinstance(kind, str) or kind not in _LANGCHAIN_ROLES:
            ids = item.get("id")
            kind = ids[-1] if isinstance(ids, list) and ids else kind
        role = _LANGCHAIN_ROLES.get(kind) if isinstance(kind, str) else None
        if role is None:
            return None
        found: dict[str, Any] = {"role": role, "content": body.get("content")}
        calls = body.get("tool_calls")
        if isinstance(calls, list) and calls:
            found["tool_calls"] = [
                {"name": c.get("name"), "arguments": c.get("args")} for c in calls if is_mapping(c)
            ]
        return found
    return None


_TEXT_TYPES = frozenset({"text", "input_text", "output_text"})


def question(value: Any) -> str | None:
    """The user's question in a conversation: the text of its last user message with text.

    Tool results (which some conventions send as user messages), system
    instructions and media do not count: an agent's input is what was asked.
    """
    return _last_text(value, "user")


def final_answer(value: Any) -> str | None:
    """The final answer in a conversation: the text of its last assistant message with text."""
    return _last_text(value, "assistant")


def _last_text(value: Any, wanted: str) -> str | None:
    parsed = json_value(value)
    if is_mapping(parsed):
        inner = parsed.get("messages")
        parsed = inner if isinstance(inner, list) else [parsed]
    if not isinstance(parsed, list):
        return None
    for item in reversed(parsed[-_MAX_MESSAGES:]):
        if not is_mapping(item):
            continue
        if "role" not in item:
            item = langchain_message(item) or item
        role = item.get("role")
        if role == "model":  # Gemini's name for the assistant
            role = "assistant"
        if role != wanted:
            continue
        found = text_only(item)
        if found:
            return found
    return None


def text_only(item: Mapping[str, Any]) -> str | None:
    """The text parts of one message, without tool calls, tool results, reasoning or media."""
    pieces: list[str] = []
    for key in ("parts", "content"):
        value = item.get(key)
        if isinstance(value, str):
            if value:
                pieces.append(value)
        elif isinstance(value, list):
            for part in value:
                if isinstance(part, str):
                    if part:
                        pieces.append(part)
                elif is_mapping(part):
                    said = _text_part(part)
                    if said:
                        pieces.append(said)
    return "\n".join(pieces) if pieces else None


def _text_part(part: Mapping[str, Any]) -> str | None:
    kind = part.get("type")
    if kind is not None and (not isinstance(kind, str) or kind not in _TEXT_TYPES):
        return None
    value = part.get("content", part.get("text"))
    if kind is None and set(part) - {"text", "cachePoint"}:
        return None  # a Converse block other than plain text
    return value if isinstance(value, str) and value else None


def content_text(value: Any) -> str | None:
    """A JSON list of content parts or blocks (``[{"text": ...}]``, a tool's result in Strands)
    as its text; None for any other value, which is then shown as it is."""
    if type(value) is str and not value.startswith("["):
        return None  # JSON text that is not an array (an object, a string) or no JSON at all
    parsed = json_value(value)
    if not isinstance(parsed, list) or not parsed:
        return None
    if not all(is_mapping(item) and "role" not in item for item in parsed):
        return None
    pieces = [p for p in (_part_text(item) for item in parsed[:_MAX_MESSAGES]) if p]
    return "\n".join(pieces) if pieces else None
