"""Provider messages -> the GenAI "parts" model, as plain dicts.

Pure functions over dicts or SDK objects (read through ``to_jsonable``);
every text is capped by ``cap_text``.
"""

from __future__ import annotations

import json
from typing import Any

from infinium_otel.instrumentation._common import arguments_text, cap_text, text_part, to_jsonable

__all__ = ["tool_call_part", "tool_response_part"]


def _parsed_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        text = arguments.strip()
        if text.startswith("{") and len(text) <= 32 * 1024:
            try:
                return json.loads(text)
            except ValueError:
                pass
        return cap_text(arguments)
    if arguments is None:
        return None
    try:
        return json.loads(arguments_text(arguments))
    except ValueError:
        return arguments_text(arguments)


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
    response = to_jsonable(response)
    part["response"] = cap_text(response) if isinstance(response, str) else arguments_text(response)
    return part


def generic_part(item: Any) -> dict[str, Any]:
    """A non-text content item (image, file, audio ...) recorded by its type only."""
    item = to_jsonable(item)
    kind = item.get("type") if isinstance(item, dict) else None
    return {"type": str(kind or "unknown")}


__all__ += ["generic_part", "text_part"]
