"""A history's shown turn, as ``json.dumps`` writes it, found without decoding the messages whole.

An agent loop's chat call carries its whole history; only the turns after the last assistant
turn are shown, and most often that is one turn (a tool's result, a user's text) right after an
assistant turn (a tool call, a text). ``last_turn`` finds those two items from the end where
``new_input._items_from_end`` first looks for them (after the last ", " before a brace; each
must end right before the separator after it), but matches their fixed text (keys, types,
separators and the strings' JSON syntax) with one pattern each and decodes only the values
inside, so no dict or list is built for their structure. Any other text gives None, and the
history is read as before.
"""

from __future__ import annotations

import json.decoder
import re
from collections.abc import Callable
from typing import Any

from infinium_otel.conventions.values import JSON_WHITESPACE, SCAN_JSON

__all__ = ["JSON_STRING", "last_turn", "without_escapes"]

# The decoder's own string scanner (C): what ``json.loads`` decodes each string with.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

# The inside of a JSON string as the decoder accepts it (strict: no raw control character;
# only the escapes JSON defines), with no quote around it.
JSON_STRING = r'[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*'
_NO_ESCAPES = r'[^"\\\x00-\x1f]*'  # a string without escapes
_PLAIN = r'[^"\\\x00-\x1f]+'  # a non-empty string without escapes: its text is its value

# The last item: a turn of one text part (up to the end), or of one tool result (up to its
# response). Its role is a plain string, decoded as it is written.
_LAST = re.compile(
    rf'\{{"role": "({_PLAIN})", "parts": \[\{{"type": "'
    rf'(?:text", "content": "((?!")(?:{JSON_STRING}))"\}}\]\}}\Z'
    rf'|tool_call_response", "id": "{JSON_STRING}", "response": )'
)
# A JSON object of plain values in json.dumps's layout, checked as text: what the decoder
# accepts (validity is all that is asked of it), without decoding it.
_FLAT_VALUE = (
    rf'(?:"{JSON_STRING}"|-?(?:0|[1-9][0-9]{{0,15}})(?:\.[0-9]{{1,20}})?(?:[eE][-+]?[0-9]{{1,3}})?'
    r"|true|false|null)"
)
_FLAT_OBJECT = rf'\{{(?:"{JSON_STRING}": {_FLAT_VALUE}(?:, "{JSON_STRING}": {_FLAT_VALUE})*)?\}}'
_CALL_END_TEXT = rf'\}}\](?:, "finish_reason": "{JSON_STRING}")?\}}\Z'
# The item before it: an assistant turn of one non-empty text, or of one tool call whose
# arguments are a plain object (group 1: the whole turn matched) or anything else (up to them).
_ASSISTANT = re.compile(
    r'\{"role": "assistant", "parts": \[\{"type": "'
    rf'(?:text", "content": "(?!")(?:{JSON_STRING})"\}}\]\}}()\Z'
    rf'|tool_call", "id": "{JSON_STRING}", "name": "{JSON_STRING}", "arguments": '
    rf"(?:({_FLAT_OBJECT}{_CALL_END_TEXT})|))"
)
_CALL_END = re.compile(_CALL_END_TEXT)


def without_escapes(pattern: str) -> str:
    """``pattern`` with every string taking no escape: a subset of what it accepts, matched
    with fewer steps (no repeat of escapes to try), so tried first."""
    return pattern.replace(JSON_STRING, _NO_ESCAPES)


# _ASSISTANT for an item whose strings hold no escape (most): where it matches, _ASSISTANT
# matches the same branch (its strings accept more, its branches are tried in the same
# order); where it does not, _ASSISTANT is tried.
_PLAIN_ASSISTANT = re.compile(without_escapes(_ASSISTANT.pattern))

# As ``new_input._items_from_end``: a guessed item holding more braces is not taken at once.
# An item of fewer characters than the brace limit and its fixed text cannot hold more.
_MAX_BRACES = 64


def _fixed(skeleton: str) -> int:
    """Characters of an item's fixed text other than braces (the least an item adds)."""
    return len(skeleton) - skeleton.count("{")


_LAST_FIXED = _fixed('{"role": "", "parts": [{"type": "text", "content": ""}]}')
_ASSISTANT_FIXED = _fixed('{"role": "assistant", "parts": [{"type": "text", "content": ""}]}')
_NOT_SHOWN = frozenset({"assistant", "system", "developer"})


def last_turn(document: str) -> tuple[bool, Any] | None:
    """The last item of a JSON array of messages, when it is the whole new input: (False,
    text) for a turn of one text part, (True, response) for one tool result; None otherwise.

    Given only where the item before it is an assistant turn of one tool call or one non-empty
    text, both exactly where ``_items_from_end`` takes them at its first guesses (so
    ``new_input_of`` of its items reads the same turn and stops at that assistant turn). The
    role is not an assistant's, a system's or a developer's; a text is not empty."""
    end = len(document)
    if document[-1:] != "]":  # json.dumps's end, else the end before trailing whitespace
        end = len(document.rstrip(JSON_WHITESPACE))
        if end < 2 or document[end - 1] != "]":
            return None
    if end < 2 or document[0] != "[":
        return None
    following = end - 1
    rfind = document.rfind
    start = rfind(", {", 1, following) + 2
    if start <= 2:
        return None
    found = _LAST.match(document, start, following)
    if found is None:
        return None
    role = found.group(1)
    if role in _NOT_SHOWN:
        return None
    said = found.group(2)
    try:
        if said is not None:
            if "\\" in said:  # escapes: decoded as the decoder decodes them
                said = _scanstring(document, found.start(2))[0]
            turn: tuple[bool, Any] = (False, said)
        else:
            response, at = SCAN_JSON(document, found.end())
            if at + 3 != following or not document.startswith("}]}", at):
                return None
            turn = (True, response)
        # The assistant turn before it, which ends the new input.
        last = following
        following = start - 2
        before = rfind(", {", 1, following) + 2
        if before <= 2:
            return None
        found = _PLAIN_ASSISTANT.match(document, before, following)
        if found is None:
            found = _ASSISTANT.match(document, before, following)
            if found is None:
                return None
        if found.lastindex is None:  # a tool call, up to its arguments
            _, at = SCAN_JSON(document, found.end())
            if _CALL_END.match(document, at, following) is None:
                return None
    except (StopIteration, ValueError, RecursionError):  # not JSON here: read as before
        return None
    # Braces: both items' counts are at most the count over both (one count, most often).
    if last - before - 1 - _LAST_FIXED - _ASSISTANT_FIXED > _MAX_BRACES and (
        document.count("{", before + 1, last) > _MAX_BRACES
    ):
        if (
            last - start - 1 - _LAST_FIXED > _MAX_BRACES
            and document.count("{", start + 1, last) > _MAX_BRACES
        ):
            return None
        if (
            following - before - 1 - _ASSISTANT_FIXED > _MAX_BRACES
            and document.count("{", before + 1, following) > _MAX_BRACES
        ):
            return None
    return turn
