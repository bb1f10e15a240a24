"""Provider messages -> the GenAI "parts" model, as plain dicts.

Pure functions over dicts or SDK objects (read through ``to_jsonable``);
every text is capped by ``cap`` (one marker, "...").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from infinium_otel._text import cap
from infinium_otel.instrumentation._common import (
    MAX_PART_CHARS,
    arguments_text,
    text_part,
    to_jsonable,
)

__all__ = ["tool_call_part", "tool_response_part"]


def _parsed_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        text = arguments.strip()
        if text.startswith("{") and len(text) <= MAX_PART_CHARS:
            try:
                return json.loads(text)
            except ValueError:
                pass
        return cap(arguments, MAX_PART_CHARS)
    if arguments is None:
        return None
    written = arguments_text(arguments)
    try:
        return json.loads(written)
    except ValueError:  # cut to the limit: kept as text
        return written


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call", "name": str(name or "")}
    if call_id:
        part["id"] = str(call_id)
    if arguments is not None:
        part["arguments"] = _parsed_arguments(arguments)
    return part


def tool_response_part(call_id: Any, response: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "tool_call_response"}
    if call_id:
        part["id"] = str(call_id)
    if not isinstance(response, (Mapping, list, tuple)) and not hasattr(response, "model_dump"):
        response = to_jsonable(response)  # a scalar, an enum, an unknown object: its text
    part["response"] = arguments_text(response)
    return part


def generic_part(item: Any) -> dict[str, Any]:
    """A non-text content item (image, file, audio ...) recorded by its type only."""
    kind = item.get("type") if isinstance(item, Mapping) else getattr(item, "type", None)
    kind = getattr(kind, "value", kind)  # an enum
    return {"type": str(kind or "unknown")}


__all__ += ["generic_part", "text_part"]
