"""The shown turn's and the tool call's patterns tried first without escapes, and one brace
count over a history's last two items, read what the former reading reads: ``last_turn`` and
``one_tool_call_message`` are compared with frozen copies of themselves as they were, on
generated histories and messages (escapes in every string, items holding braces about the
brace limit, trailing whitespace, damaged texts)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infinium_otel.conventions import dumped, dumped_history
from infinium_otel.conventions.dumped import one_tool_call_message
from infinium_otel.conventions.dumped_history import last_turn
from infinium_otel.conventions.values import JSON_WHITESPACE, SCAN_JSON

from .test_dumped_history import (
    _DAMAGES,
    _SYSTEM,
    _damaged,
    _dumps,
    _history_strategy,
    _message,
    _same,
)

_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]


def _former_last_turn(document: str) -> tuple[bool, Any] | None:
    """``last_turn`` before the patterns without escapes and the one brace count (frozen)."""
    end = len(document.rstrip(JSON_WHITESPACE))
    if end < 2 or document[0] != "[" or document[end - 1] != "]":
        return None
    following = end - 1
    rfind = document.rfind
    start = rfind(", {", 1, following) + 2
    if start <= 2:
        return None
    found = dumped_history._LAST.match(document, start, following)
    if found is None:
        return None
    role = found.group(1)
    if role in dumped_history._NOT_SHOWN:
        return None
    said = found.group(2)
    try:
        if said is not None:
            if "\\" in said:
                said = _scanstring(document, found.start(2))[0]
            turn: tuple[bool, Any] = (False, said)
        else:
            response, at = SCAN_JSON(document, found.end())
            if at + 3 != following or not document.startswith("}]}", at):
                return None
            turn = (True, response)
        if (
            following - start - 1 - dumped_history._LAST_FIXED > 64
            and document.count("{", start + 1, following) > 64
        ):
            return None
        following = start - 2
        before = rfind(", {", 1, following) + 2
        if before <= 2:
            return None
        found = dumped_history._ASSISTANT.match(document, before, following)
        if found is None:
            return None
        if found.lastindex is None:
            _, at = SCAN_JSON(document, found.end())
            if dumped_history._CALL_END.match(document, at, following) is None:
                return None
    except (StopIteration, ValueError, RecursionError):
        return None
    if (
        following - before - 1 - dumped_history._ASSISTANT_FIXED > 64
        and document.count("{", before + 1, following) > 64
    ):
        return None
    return turn


def _former_one_tool_call_message(document: str) -> tuple[str, str, Any] | None:
    """``one_tool_call_message`` before its patterns without escapes (frozen)."""
    found = dumped._CALL.match(document)
    if found is None:
        return None
    role, name = found.group(1, 2)
    if not role or not name:
        return None
    try:
        arguments, at = SCAN_JSON(document, found.end())
    except (StopIteration, ValueError, RecursionError):
        return None
    if dumped._CALL_END.match(document, at) is None:
        return None
    if "\\" in role:
        role = _scanstring(document, found.start(1))[0]
    if "\\" in name:
        name = _scanstring(document, found.start(2))[0]
    return role, name, arguments


# Strings holding escapes or not, and braces about the limit of 64 an item may hold.
_STRING = st.one_of(
    st.sampled_from(["c1", "track", "", 'q"uote', "back\\slash", "t\u00e9", "\n", "\ud800"]),
    st.integers(50, 80).map(lambda braces: "{" * braces),
    st.integers(20, 40).map(lambda braces: "{" * braces),
)
_FLAT_VALUE = st.one_of(_STRING, st.integers(-5, 5), st.booleans(), st.none(), st.just(2.5))
_ARGUMENTS = st.one_of(
    st.dictionaries(_STRING, _FLAT_VALUE, max_size=3),
    st.lists(_FLAT_VALUE, max_size=2),
    _STRING,
    st.builds(lambda inner: {"k": inner}, st.dictionaries(_STRING, _FLAT_VALUE, max_size=2)),
)
_ASSISTANT_TURN = st.one_of(
    st.builds(
        lambda call_id, name, arguments, finish: {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}],
            **({} if finish is None else {"finish_reason": finish}),
        },
        _STRING,
        _STRING,
        _ARGUMENTS,
        st.one_of(st.none(), _STRING),
    ),
    st.builds(
        lambda said: {"role": "assistant", "parts": [{"type": "text", "content": said}]},
        _STRING,
    ),
)
_LAST_TURN = st.one_of(
    st.builds(
        lambda role, call_id, response: {
            "role": role,
            "parts": [{"type": "tool_call_response", "id": call_id, "response": response}],
        },
        st.sampled_from(["tool", "user", "t\\u00e9"]),
        _STRING,
        _ARGUMENTS,
    ),
    st.builds(
        lambda role, said: {"role": role, "parts": [{"type": "text", "content": said}]},
        st.sampled_from(["user", "tool"]),
        _STRING,
    ),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.builds(lambda a, b: [_SYSTEM, a, b], _ASSISTANT_TURN, _LAST_TURN),
        _history_strategy(),
    ),
    st.sampled_from([0, 0, 0, 1, 2]),
    st.booleans(),
    st.sampled_from(_DAMAGES),
    st.integers(0, 10**6),
    st.sampled_from(["", "", "", " ", "\n\t "]),
)
def test_last_turn_reads_what_it_read_before(
    history: list[Any], layout: int, ascii_only: bool, damage: int, where: int, trailing: str
) -> None:
    document = _damaged(_dumps(history, layout, ascii_only), damage, where) + trailing
    assert _same(last_turn(document), _former_last_turn(document))


def test_the_brace_limit_is_kept_for_each_item() -> None:
    """One count over both items declines nothing the two counts take, and the reverse:
    items holding braces up to and past the limit, in either item or split between them."""
    call = {"type": "tool_call", "id": "c", "name": "t", "arguments": {}}
    result = {"type": "tool_call_response", "id": "c", "response": {"r": 1}}
    for split in ("assistant", "last", "both"):
        taken = set()
        for braces in range(56, 72):
            many = "{" * braces
            half = braces // 2
            assistant = {**call, "id": many if split == "assistant" else many[:half]}
            last = {**result, "id": many if split == "last" else many[half:]}
            if split == "assistant":
                last = result
            elif split == "last":
                assistant = call
            history = [
                _SYSTEM,
                {"role": "assistant", "parts": [assistant]},
                {"role": "tool", "parts": [last]},
            ]
            document = json.dumps(history)
            assert _same(last_turn(document), _former_last_turn(document)), (split, braces)
            taken.add(last_turn(document) is not None)
        assert taken == ({True, False} if split != "both" else {True}), split


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(_message(), _ASSISTANT_TURN),
    st.integers(0, 2),
    st.booleans(),
    st.sampled_from(_DAMAGES),
    st.integers(0, 10**6),
)
def test_one_tool_call_message_reads_what_it_read_before(
    message: dict[str, Any], layout: int, ascii_only: bool, damage: int, where: int
) -> None:
    document = _damaged(_dumps([message], layout, ascii_only), damage, where)
    assert _same(one_tool_call_message(document), _former_one_tool_call_message(document))
