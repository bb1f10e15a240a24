"""One chat message of one text part, as ``json.dumps`` writes it, read without parsing it.

``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]`` is the commonest
message attribute (a chat call's new question, its answer). Its two strings are decoded
by the JSON decoder's own string scanner and the rest compared as text, so no objects
are built for its structure. Anything else gives None and is parsed as JSON.
"""

from __future__ import annotations

import json.decoder
import re
from collections.abc import Callable
from typing import Any

from infinium_otel.conventions.dumped_history import JSON_STRING, without_escapes
from infinium_otel.conventions.values import SCAN_JSON

# The decoder's own string scanner (C): what ``json.loads`` decodes each string with.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

__all__ = ["one_text_message", "one_tool_call_message", "system_then_user_text"]

_HEAD = '[{"role": "'
_MIDDLE = '", "parts": [{"type": "text", "content": "'
_TAIL = '"}]}]'
_ROLE_AT = len(_HEAD)
_MIDDLE_LENGTH = len(_MIDDLE) - 1  # its closing quote is the role's own, already read
_TAIL_LENGTH = len(_TAIL) - 1  # likewise the content's closing quote
# The two commonest roles' heads, up to the text: one comparison instead of the role's scan
# (its closing quote is part of the head, so the role is exactly this one).
_USER_HEAD = f"{_HEAD}user{_MIDDLE}"
_ASSISTANT_HEAD = f"{_HEAD}assistant{_MIDDLE}"
_USER_TEXT_AT = len(_USER_HEAD)
_ASSISTANT_TEXT_AT = len(_ASSISTANT_HEAD)


def one_text_message(document: str) -> tuple[str, str] | None:
    """(role, text) of a JSON array holding exactly one such message, both non-empty, as
    ``json.loads`` would decode them; None for anything else (then parsed as JSON)."""
    if not document.endswith(_TAIL):
        return None  # checked first: a history (several messages, tool parts) ends otherwise
    try:
        if document.startswith(_USER_HEAD):
            role, at = "user", _USER_TEXT_AT
        elif document.startswith(_ASSISTANT_HEAD):
            role, at = "assistant", _ASSISTANT_TEXT_AT
        elif document.startswith(_HEAD):
            role, at = _scanstring(document, _ROLE_AT)
            if not document.startswith(_MIDDLE, at - 1):
                return None
            at += _MIDDLE_LENGTH
        else:
            return None
        said, at = _scanstring(document, at)
    except ValueError:  # not a valid string: parsed as JSON, which refuses it too
        return None
    if at + _TAIL_LENGTH != len(document):
        return None
    if not role or not said:
        return None
    return role, said


# A system prompt then a user's question, each one text part: an agent's first call.
_SYSTEM_HEAD = f"{_HEAD}system{_MIDDLE}"
_SYSTEM_TEXT_AT = len(_SYSTEM_HEAD)
_THEN_USER = '"}]}, {"role": "user", "parts": [{"type": "text", "content": "'
_THEN_USER_LENGTH = len(_THEN_USER) - 1  # its first quote closes the system prompt


def system_then_user_text(document: str) -> str | None:
    """The user's text of a JSON array of exactly a system message and a user message, each
    of one text part, as ``json.dumps`` writes them (an agent's first call): the new input
    ``new_input_text`` finds there, since a system prompt is never shown. None for anything
    else, and for an empty text (then parsed as JSON)."""
    if not document.endswith(_TAIL) or not document.startswith(_SYSTEM_HEAD):
        return None
    try:
        at = _scanstring(document, _SYSTEM_TEXT_AT)[1]  # validated, never shown
        if not document.startswith(_THEN_USER, at - 1):
            return None
        said, at = _scanstring(document, at + _THEN_USER_LENGTH)
    except ValueError:  # not a valid string: parsed as JSON, which refuses it too
        return None
    if at + _TAIL_LENGTH != len(document) or not said:
        return None
    return said


# An array of one message of one tool call part, up to its arguments (groups: role, name).
_CALL = re.compile(
    rf'\[\{{"role": "({JSON_STRING})", "parts": \[\{{"type": "tool_call", '
    rf'"id": "{JSON_STRING}", "name": "({JSON_STRING})", "arguments": '
)
# After the arguments: the part's end, a finish reason or none, the message's and array's.
_CALL_END = re.compile(rf'\}}\](?:, "finish_reason": "{JSON_STRING}")?\}}\]\Z')
# The same for strings without escapes (most): tried first, the others where they do not match
# (they accept more, and match the same text where both do).
_PLAIN_CALL = re.compile(without_escapes(_CALL.pattern))
_PLAIN_CALL_END = re.compile(without_escapes(_CALL_END.pattern))


def one_tool_call_message(document: str) -> tuple[str, str, Any] | None:
    """(role, tool name, arguments) of a JSON array holding exactly one message of one tool
    call part, as ``json.dumps`` writes it (``{"role", "parts": [{"type": "tool_call", "id",
    "name", "arguments"}]}``, with or without a ``finish_reason``): an agent loop's chat call
    that answers with a call. Role and name non-empty; None for anything else.

    Its text is matched by patterns that accept the strings the decoder accepts; only its
    arguments are decoded, and a role or name with escapes."""
    found = _PLAIN_CALL.match(document)
    if found is None:
        found = _CALL.match(document)
        if found is None:
            return None
    role, name = found.group(1, 2)
    if not role or not name:
        return None
    try:
        arguments, at = SCAN_JSON(document, found.end())
    except (StopIteration, ValueError, RecursionError):  # not JSON: parsed, and refused, as such
        return None
    if _PLAIN_CALL_END.match(document, at) is None and _CALL_END.match(document, at) is None:
        return None
    if "\\" in role:  # escapes: decoded as the decoder decodes them
        role = _scanstring(document, found.start(1))[0]
    if "\\" in name:
        name = _scanstring(document, found.start(2))[0]
    return role, name, arguments
