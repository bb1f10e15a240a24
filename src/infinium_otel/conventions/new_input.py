"""What a chat call added to its history: the messages after the last assistant turn.

An agent loop repeats the whole conversation in every call; a step shows only what is
new (the latest user message, or the tool results answering the last call). A long
dumped history is read from its end, one message at a time, so its cost is its tail's;
the commonest tails are matched as text first (``dumped``, ``dumped_history``,
``dumped_plain``). Apart from ``messages``, which reads one message in any shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from infinium_otel.conventions.dumped import system_then_user_text
from infinium_otel.conventions.dumped_history import last_turn
from infinium_otel.conventions.dumped_plain import shown_tool_result
from infinium_otel.conventions.messages import (
    _MAX_MESSAGES,
    _PARTS_MESSAGE_KEYS,
    Message,
    _add_parts,
    _tool_result_text,
    message_from,
    render,
)
from infinium_otel.conventions.values import JSON_WHITESPACE, SCAN_JSON, is_mapping, json_value

__all__ = ["new_input_of", "new_input_text", "render_new_input"]


def new_input_text(value: Any) -> str | None:
    """``render_new_input(messages_from(value))`` rendering only the turns after the last
    assistant one (an agent loop's history grows with every call; only its tail is shown).
    None when that tail holds nothing to show: the caller then renders the whole history.

    A long JSON array is read from its end, one message at a time, so a long history costs
    what its tail costs; a text the scan cannot delimit is parsed whole instead."""
    if type(value) is str and len(value) > _SCAN_FROM_END_OVER:
        said = shown_tool_result(value)  # a tool call then its plain result: as text alone
        if said is not None:
            return said
        turn = last_turn(value)  # the commonest tail, without decoding its messages whole
        if turn is not None:
            said = _tool_result_text(turn[1]) if turn[0] else turn[1]
            if said:
                return said
        try:
            return new_input_of(_items_from_end(value))
        except _Undelimited:
            pass
    elif type(value) is str:
        said = system_then_user_text(value)  # an agent's first call, matched as text
        if said is not None:
            return said
    parsed = json_value(value)
    if type(parsed) is not list and is_mapping(parsed):
        parsed = parsed.get("messages")
    if not isinstance(parsed, list):
        return None
    return new_input_of(
        reversed(parsed if len(parsed) <= _MAX_MESSAGES else parsed[-_MAX_MESSAGES:])
    )


def new_input_of(items_from_end: Iterable[Any]) -> str | None:
    """The shown turns of a history given from its last message back: rendered up to the
    assistant turn that ends them; None when none is shown."""
    tail: list[Message] = []
    for item in items_from_end:
        if type(item) is dict and item.keys() <= _PARTS_MESSAGE_KEYS:
            role = item.get("role")
            parts = item.get("parts")
            if type(role) is str and role and role != "assistant" and type(parts) is list:
                # Not an assistant turn, in the parts model: message_from's first case, inline;
                # one text part (most turns) is its text, as _add_parts finds it.
                if len(parts) == 1:
                    part = parts[0]
                    if type(part) is dict and part.get("type") == "text":
                        said = part.get("content", part.get("text"))
                        if type(said) is str and said:
                            if role not in ("system", "developer"):
                                tail.append((role, said))
                            continue
                pieces: list[str] = []
                _add_parts(parts, pieces)
                if pieces and role not in ("system", "developer"):
                    tail.append((role, pieces[0] if len(pieces) == 1 else "\n".join(pieces)))
                continue
            if role == "assistant" and type(parts) is list and parts:
                first_part = parts[0]  # a call first: _assistant_with_text's answer, at once
                if type(first_part) is dict and first_part.get("type") in _CALL_PARTS:
                    break
        if _assistant_with_text(item):
            break  # the turn that ends the new input: not shown, so not rendered
        message = message_from(item)
        if message is None:
            continue
        if message[0] == "assistant":
            break
        if message[0] not in ("system", "developer"):
            tail.append(message)
    if not tail:
        return None
    if len(tail) == 1:
        return tail[0][1]  # render() of one message: its text
    tail.reverse()
    return render(tail)


_CALL_PARTS = ("tool_call", "function_call", "tool_use")  # compared, never hashed


def _assistant_with_text(item: Any) -> bool:
    """True only where ``message_from(item)`` is an assistant message with text, found
    without rendering it: a text content, a text or tool-call part, or a tool call.
    False says nothing: the item is then rendered to learn what it is."""
    if type(item) is not dict or item.get("role") != "assistant" or "message" in item:
        return False
    content = item.get("content")
    if type(content) is str and content:
        return True
    parts = item.get("parts")
    if type(parts) is list:
        for part in parts:
            if type(part) is dict:
                kind = part.get("type")
                if kind in _CALL_PARTS:
                    return True
                if kind == "text":
                    value = part.get("content", part.get("text"))
                    if type(value) is str and value:
                        return True
    calls = item.get("tool_calls")
    return type(calls) is list and any(is_mapping(call) for call in calls)


class _Undelimited(Exception):
    """The text is not a JSON array whose items the backward scan can find."""


_MAX_MISSES = 64
# Below this many characters parsing the whole text costs no more than the scan.
_SCAN_FROM_END_OVER = 1024


def _items_from_end(document: str) -> Iterator[Any]:
    """The items of a JSON array of objects, last first, each decoded once, at most the last
    ``_MAX_MESSAGES`` (as ``reversed(json.loads(document)[-_MAX_MESSAGES:])``).

    An object's opening brace is a candidate; it is an item of the array only if the value
    decoded from it ends right before the separator of the item found after it (or the closing
    bracket). In a valid array this holds for no other brace: decoding from inside a string
    swaps string and structure up to the end, and decoding from inside an item stops at that
    item's own closing bracket. Raises ``_Undelimited`` for anything else (an item that is not
    an object, a wrapper object, a text that is not JSON), and the caller parses it whole.

    An item after the first is looked for first where ``json.dumps`` puts it, after ", ": a
    brace there whose value ends where the item must is the one the walk over every brace
    would find (no brace inside a decoded value decodes to the same end, and none lies
    between its end and the separator), unless the walk would have given up first on the
    braces inside it; then, and wherever that guess fails once, every brace is tried.
    """
    end = len(document.rstrip(JSON_WHITESPACE))
    if end < 2 or document[0] != "[" or document[end - 1] != "]":
        raise _Undelimited
    following = end - 1  # the separator after the item looked for: "," or the closing "]"
    search = following
    misses = 0
    rfind = document.rfind
    guess = True
    for _ in range(_MAX_MESSAGES):
        if guess:
            start = rfind(", {", 1, search) + 2
            if start > 2:
                try:
                    item, stop = SCAN_JSON(document, start)
                except (StopIteration, ValueError, RecursionError):
                    guess = False
                else:
                    if (
                        stop == following or not document[stop:following].strip(JSON_WHITESPACE)
                    ) and document.count("{", start + 1, search) <= _MAX_MISSES:
                        yield item
                        following = search = start - 2
                        continue
                    guess = False
            else:
                guess = False
        while True:
            start = rfind("{", 1, search)
            if start < 0 or misses > _MAX_MISSES:
                raise _Undelimited
            search = start
            before = start - 1
            separator = document[before]
            if separator in JSON_WHITESPACE:
                before -= 1
                while document[before] in JSON_WHITESPACE:
                    before -= 1
                separator = document[before]
            if separator != "," and (separator != "[" or before != 0):
                continue  # a value inside an object, or the first of a nested array
            try:
                item, stop = SCAN_JSON(document, start)
            except (StopIteration, ValueError, RecursionError):
                misses += 1
                continue
            if stop == following or not document[stop:following].strip(JSON_WHITESPACE):
                break
            misses += 1
        yield item
        if separator == "[":
            return  # the first item
        following = search = before
        misses = 0


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
