"""An agent loop's commonest tool texts, as ``json.dumps`` writes them, shown without decoding.

A chat call's history most often ends with an assistant's tool call and the tool's result,
and its output is one tool call; what is shown of them is the result's and the call's
arguments' compact JSON (``to_json`` of the decoded object). Where such an object is flat,
its strings take no escape, its numbers are integers, its keys are distinct and no string
starts with ": " or ends with ", ", decoding then encoding it gives its own text with the
two separators' spaces dropped. One pattern proves that (and the layout around it), so the
object is neither decoded nor encoded. Anything else gives None, and is read as before.
"""

from __future__ import annotations

import re

__all__ = ["plain_tool_call_output", "shown_tool_result"]

# A string's inside without escapes, raw control characters or braces (so every quote and
# brace of the text is structure); for a compacted object also not starting with ": " nor
# ending with ", " (so every '": ' and ', "' is a separator).
_BARE = r'[^"\\\x00-\x1f{]*'
_COMPACT_STRING = rf'"(?!: ){_BARE}(?<!, )"'
# Values whose decoded-then-encoded text is their own: no float, no -0, no integer past 16 digits.
_COMPACT_VALUE = rf"(?:{_COMPACT_STRING}|-?[1-9][0-9]{{0,15}}|0|true|false|null)"
# An object of such values that is only checked, never shown (its keys may repeat).
_CHECKED_VALUE = rf'(?:"{_BARE}"|-?[1-9][0-9]{{0,15}}|0|true|false|null)'
_CHECKED_OBJECT = rf'\{{(?:"{_BARE}": {_CHECKED_VALUE}(?:, "{_BARE}": {_CHECKED_VALUE})*)?\}}'
_MAX_KEYS = 8


def _compact_object(name: str) -> str:
    """A flat object of at most ``_MAX_KEYS`` distinct keys (group ``name``: the object;
    ``name0``...: its keys, each later one checked against every earlier one, whose text is
    its value)."""
    rest = r"\}"
    for index in reversed(range(_MAX_KEYS)):
        seen = "".join(f'(?!(?P={name}{k})")' for k in range(index))
        key = rf'"{seen}(?P<{name}{index}>(?!: ){_BARE}(?<!, ))": {_COMPACT_VALUE}'
        rest = rf"(?:\}}|{key}{rest})" if index == 0 else rf"(?:\}}|, {key}{rest})"
    return rf"(?P<{name}>\{{{rest})"


_CALL_PART = rf'\[\{{"type": "tool_call", "id": "{_BARE}", "name": "'
_CALL_END = rf'\}}\](?:, "finish_reason": "{_BARE}")?\}}'

# The last two items of a history: an assistant's tool call (checked) and a tool result
# (group "role"; group "r": the response), matched after the head ``rfind`` found.
_PAIR_HEAD = ', {"role": "assistant", "parts": [{"type": "tool_call", "id": "'
_PAIR = re.compile(
    rf'{_BARE}", "name": "{_BARE}", "arguments": {_CHECKED_OBJECT}'
    rf'{_CALL_END}, \{{"role": "(?P<role>[^"\\\x00-\x1f{{]+)", "parts": \[\{{"type": '
    rf'"tool_call_response", "id": "{_BARE}", "response": {_compact_object("r")}\}}\]\}}\]\Z'
)
_PAIR_HEAD_LENGTH = len(_PAIR_HEAD)
_NOT_SHOWN = frozenset({"assistant", "system", "developer"})
_TEXT_OR_JSON = frozenset({"text", "json"})

# A chat call's output of one message of one tool call (group "name"; group "a": its arguments).
_OUTPUT = re.compile(
    rf'\[\{{"role": "[^"\\\x00-\x1f{{]+", "parts": {_CALL_PART}(?P<name>[^"\\\x00-\x1f{{]+)", '
    rf'"arguments": {_compact_object("a")}{_CALL_END}\]\Z'
)


def _compacted(document: str) -> str:
    """The compact text of an object ``_compact_object`` matched: ``to_json`` of its value."""
    return document.replace('": ', '":').replace(', "', ',"')


def shown_tool_result(document: str) -> str | None:
    """What ``new_input_text`` shows of a history ending with an assistant's tool call and a
    tool's result of such an object: ``tool result: `` and its compact text; None otherwise.

    Both items are where ``new_input._items_from_end`` takes them at its first guesses (no
    brace inside their strings, so the last ", {" before each starts it), and the document
    starts as an array; the result's role is shown and its keys are not only text or json."""
    if document[:1] != "[":
        return None
    at = document.rfind(_PAIR_HEAD)
    if at < 1:
        return None
    found = _PAIR.match(document, at + _PAIR_HEAD_LENGTH)
    if found is None:
        return None
    role, first = found.group("role", "r0")
    if role in _NOT_SHOWN or first is None or first in _TEXT_OR_JSON:
        return None
    return "tool result: " + _compacted(found.group("r"))


def plain_tool_call_output(document: str) -> str | None:
    """``tool_call name(arguments)`` of a chat call's output of one message of one tool call
    whose arguments are such an object, as ``one_tool_call_message`` then ``to_json`` render
    it; None otherwise."""
    found = _OUTPUT.match(document)
    if found is None:
        return None
    return "tool_call " + found.group("name") + "(" + _compacted(found.group("a")) + ")"
