"""One chat message of one text part, as ``json.dumps`` writes it, read without parsing it.

``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]`` is the commonest
message attribute (a chat call's new question, its answer). Its two strings are decoded
by the JSON decoder's own string scanner and the rest compared as text, so no objects
are built for its structure. Anything else gives None and is parsed as JSON.
"""

from __future__ import annotations

import json.decoder
from collections.abc import Callable
from typing import Any

from infinium_otel.conventions.values import SCAN_JSON

# The decoder's own string scanner (C): what ``json.loads`` decodes each string with.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

__all__ = ["one_text_message", "one_tool_call_message"]

_HEAD = '[{"role": "'
_MIDDLE = '", "parts": [{"type": "text", "content": "'
_TAIL = '"}]}]'
_ROLE_AT = len(_HEAD)
_MIDDLE_LENGTH = len(_MIDDLE) - 1  # its closing quote is the role's own, already read
_TAIL_LENGTH = len(_TAIL) - 1  # likewise the content's closing quote


def one_text_message(document: str) -> tuple[str, str] | None:
    """(role, text) of a JSON array holding exactly one such message, both non-empty, as
    ``json.loads`` would decode them; None for anything else (then parsed as JSON)."""
    if not document.endswith(_TAIL) or not document.startswith(_HEAD):
        return None  # checked first: a history (several messages, tool parts) ends otherwise
    try:
        role, at = _scanstring(document, _ROLE_AT)
        if not document.startswith(_MIDDLE, at - 1):
            return None
        said, at = _scanstring(document, at + _MIDDLE_LENGTH)
    except ValueError:  # not a valid string: parsed as JSON, which refuses it too
        return None
    if at + _TAIL_LENGTH != len(document):
        return None
    if not role or not said:
        return None
    return role, said


_CALL_MIDDLE = '", "parts": [{"type": "tool_call", "id": "'
_CALL_NAME = '", "name": "'
_CALL_ARGUMENTS = '", "arguments": '
_CALL_END = "}]}]"
_CALL_FINISH = '}], "finish_reason": "'
_CALL_FINISH_END = '"}]'


def one_tool_call_message(document: str) -> tuple[str, str, Any] | None:
    """(role, tool name, arguments) of a JSON array holding exactly one message of one tool
    call part, as ``json.dumps`` writes it (``{"role", "parts": [{"type": "tool_call", "id",
    "name", "arguments"}]}``, with or without a ``finish_reason``): an agent loop's chat call
    that answers with a call. Role and name non-empty; None for anything else."""
    if not document.startswith(_HEAD) or not document.endswith("}]"):
        return None
    try:
        role, at = _scanstring(document, _ROLE_AT)
        if not document.startswith(_CALL_MIDDLE, at - 1):
            return None
        _, at = _scanstring(document, at - 1 + len(_CALL_MIDDLE))
        if not document.startswith(_CALL_NAME, at - 1):
            return None
        name, at = _scanstring(document, at - 1 + len(_CALL_NAME))
        if not document.startswith(_CALL_ARGUMENTS, at - 1):
            return None
        arguments, at = SCAN_JSON(document, at - 1 + len(_CALL_ARGUMENTS))
        if document.startswith(_CALL_FINISH, at):
            _, at = _scanstring(document, at + len(_CALL_FINISH))
            at -= 1  # the finish reason's closing quote opens the end looked for
            end = _CALL_FINISH_END
        else:
            end = _CALL_END
    except (StopIteration, ValueError, RecursionError):  # not JSON: parsed, and refused, as such
        return None
    if at + len(end) != len(document) or not document.startswith(end, at):
        return None
    if not role or not name:
        return None
    return role, name, arguments
