"""A history's shown turn and a chat call's one tool call, matched as ``json.dumps`` writes
them, read what the general reading reads: the same text for the same history, the same
(role, name, arguments) for the same output, the same payload bytes for the same run.

Histories are generated with turns of every kind the patterns take and many they do not
(odd argument and response types, texts holding quotes, braces and whole message texts that
look like message boundaries, escapes, lone surrogates, huge values), written with the
default, compact and pretty separators, then damaged (cut, a character changed, garbage
before the tail, trailing whitespace)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infinium_otel.conventions import common, dumped_history, new_input
from infinium_otel.conventions.dumped import one_tool_call_message
from infinium_otel.conventions.dumped_history import last_turn
from infinium_otel.conventions.new_input import new_input_text
from infinium_otel.conventions.values import SCAN_JSON
from infinium_otel.payload import convert
from infinium_otel.payload.encode import encode_payload

from .builder import BASE_NS, MS, Trace

_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]

_BOUNDARY = ', {"role": "assistant", "parts": [{"type": "text", "content": "x"}]}'
_TRICKY = [
    "{",
    "}",
    '"',
    "\\",
    ", {",
    '"}]}',
    "}]}",
    _BOUNDARY,
    '", "response": {"a": 1}}]}',
    "\ud800",
    "é\u2028",
    "\n\t",
    "\x00",
]
_TEXT = st.one_of(
    st.text(min_size=1, max_size=12),
    st.text(min_size=1, max_size=12),
    st.text(max_size=8),
    st.sampled_from(_TRICKY),
    st.lists(st.sampled_from(_TRICKY), min_size=2, max_size=4).map("".join),
    st.just("x" * 3000),
)
_LEAF = st.one_of(
    _TEXT,
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=6,
)
_FLAT = st.dictionaries(_TEXT, _LEAF, max_size=4)
_ROLE = st.sampled_from(
    ["user", "assistant", "system", "developer", "tool", "", "Us\\er", "t\u00e9"]
)


_TEXT_PART = st.builds(
    lambda said: {"type": "text", "content": said}, st.one_of(_TEXT, st.just(""))
)
_CALL_PART = st.builds(
    lambda call_id, name, arguments: {
        "type": "tool_call",
        "id": call_id,
        "name": name,
        "arguments": arguments,
    },
    _TEXT,
    _TEXT,
    st.one_of(_FLAT, _VALUE),
)
_RESULT_PART = st.builds(
    lambda call_id, response: {"type": "tool_call_response", "id": call_id, "response": response},
    _TEXT,
    st.one_of(_FLAT, _VALUE, st.just({"text": "t"}), st.just({"json": [1]})),
)


def _part() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _TEXT_PART, _CALL_PART, _RESULT_PART, st.just({"type": "text", "text": "older key"})
    )


def _message() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda role, parts, finish: (
            {"role": role, "parts": parts}
            if finish is None
            else {"role": role, "parts": parts, "finish_reason": finish}
        ),
        _ROLE,
        st.lists(_part(), min_size=0, max_size=2),
        st.one_of(st.none(), st.none(), _TEXT),
    )


_SYSTEM = {"role": "system", "parts": [{"type": "text", "content": "Be brief. " * 120}]}


def _dumps(history: list[Any], layout: int, ascii_only: bool) -> str:
    if layout == 1:
        return json.dumps(history, ensure_ascii=ascii_only, separators=(",", ":"))
    if layout == 2:
        return json.dumps(history, ensure_ascii=ascii_only, indent=1)
    return json.dumps(history, ensure_ascii=ascii_only)


_DAMAGE = ["}", "]", "{", '"', ",", " ", "0", "\t", "\\", "x", "-"]
_DAMAGES = [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9]


def _damaged(document: str, damage: int, where: int) -> str:
    if not document:
        return document
    at = where % len(document)
    if damage == 1:
        return document[:at]  # cut
    if damage == 2:
        return document[:at] + "}" + document[at + 1 :]  # a character changed
    if damage == 3:
        return "[garbage, " + document[1:]  # not JSON before the tail
    if damage == 4:
        return document + " \n"
    if damage == 5:
        return document.replace("7", "7" * 5000, 1)  # a number past int()'s digit limit
    if damage >= 6:  # near the end, where the last two turns are: a character changed,
        near = len(document) - 1 - where % min(len(document), 250)  # removed or added
        character = _DAMAGE[where // 250 % len(_DAMAGE)]
        if damage == 6:
            return document[:near] + character + document[near + 1 :]
        if damage == 7:
            return document[:near] + document[near + 1 :]
        if damage == 8:
            return document[:near] + character + document[near:]
        escape = document.rfind("\\n")  # an escaped control character written raw
        if escape < 0:
            escape = document.rfind("\\t")
        return document if escape < 0 else document[:escape] + "\n" + document[escape + 2 :]
    return document


@contextmanager
def _general() -> Iterator[None]:
    """The reading before the patterns: the scan of every item, the former tool call reader."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(new_input, "last_turn", lambda document: None)
        patch.setattr(common, "one_tool_call_message", _former_one_tool_call_message)
        yield


def _one_part(
    role: st.SearchStrategy[str], part: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda said, one: {"role": said, "parts": [one]}, role, part)


def _history_strategy() -> st.SearchStrategy[list[Any]]:
    # Most end as an agent loop's does (an assistant turn of one part, then a turn of one
    # part), so the patterns are tried and often taken; the rest is any list of messages.
    loop = st.builds(
        lambda before, assistant, last: [_SYSTEM, *before, assistant, last],
        st.lists(_message(), max_size=3),
        st.one_of(
            _one_part(st.just("assistant"), st.one_of(_CALL_PART, _CALL_PART, _TEXT_PART)),
            _message(),
        ),
        st.one_of(
            _one_part(
                st.sampled_from(["user", "tool", "t\u00e9"]), st.one_of(_RESULT_PART, _TEXT_PART)
            ),
            _one_part(_ROLE, _part()),
        ),
    )
    return st.one_of(loop, loop, loop, st.lists(_message(), max_size=5))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _history_strategy(),
    st.sampled_from([0, 0, 0, 1, 2]),
    st.booleans(),
    st.sampled_from(_DAMAGES),
    st.integers(0, 10**6),
)
def test_the_shown_turn_is_what_the_scan_of_every_item_reads(
    history: list[Any], layout: int, ascii_only: bool, damage: int, where: int
) -> None:
    document = _damaged(_dumps(history, layout, ascii_only), damage, where)
    shown = new_input_text(document)
    with _general():
        assert shown == new_input_text(document)


def test_the_patterns_take_an_agent_loops_turns() -> None:
    call = {"type": "tool_call", "id": "c", "name": "track", "arguments": {"parcel": 7}}
    result = {"type": "tool_call_response", "id": "c", "response": {"hub": "Lyon", "n": 2}}
    history = [
        _SYSTEM,
        {"role": "user", "parts": [{"type": "text", "content": "Where?"}]},
        {"role": "assistant", "parts": [call]},
        {"role": "tool", "parts": [result]},
    ]
    document = json.dumps(history)
    assert last_turn(document) == (True, {"hub": "Lyon", "n": 2})
    assert new_input_text(document) == 'tool result: {"hub":"Lyon","n":2}'
    history[-1] = {"role": "user", "parts": [{"type": "text", "content": 'a "quoted"\nline'}]}
    assert last_turn(json.dumps(history)) == (False, 'a "quoted"\nline')
    # Arguments the pattern does not check as text are decoded: still read.
    nested = {"a": [1, 2], "b": {"c": 2.5}}
    history[2] = {"role": "assistant", "parts": [{**call, "arguments": nested}]}
    assert last_turn(json.dumps(history)) == (False, 'a "quoted"\nline')
    # A system turn is not shown; an assistant turn is not the new input: declined.
    history[-1] = {"role": "system", "parts": [{"type": "text", "content": "x"}]}
    assert last_turn(json.dumps(history)) is None
    history[-1] = {"role": "assistant", "parts": [{"type": "text", "content": "x"}]}
    assert last_turn(json.dumps(history)) is None


def test_an_item_holding_more_braces_than_the_guess_takes_is_declined() -> None:
    nested: Any = 1
    for _ in range(70):
        nested = {"k": nested}
    call = {"type": "tool_call", "id": "c", "name": "t", "arguments": {}}
    history = [
        _SYSTEM,
        {"role": "assistant", "parts": [call]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c", "response": nested}]},
    ]
    document = json.dumps(history)
    assert last_turn(document) is None  # as the scan's first guess: the item is not taken at once
    with _general():
        expected = new_input_text(document)
    assert new_input_text(document) == expected


def _former_one_tool_call_message(document: str) -> tuple[str, str, Any] | None:
    """``one_tool_call_message`` as it was before its patterns (frozen copy)."""
    head = '[{"role": "'
    if not document.startswith(head) or not document.endswith("}]"):
        return None
    middle = '", "parts": [{"type": "tool_call", "id": "'
    name_at = '", "name": "'
    arguments_at = '", "arguments": '
    finish = '}], "finish_reason": "'
    try:
        role, at = _scanstring(document, len(head))
        if not document.startswith(middle, at - 1):
            return None
        _, at = _scanstring(document, at - 1 + len(middle))
        if not document.startswith(name_at, at - 1):
            return None
        name, at = _scanstring(document, at - 1 + len(name_at))
        if not document.startswith(arguments_at, at - 1):
            return None
        arguments, at = SCAN_JSON(document, at - 1 + len(arguments_at))
        if document.startswith(finish, at):
            _, at = _scanstring(document, at + len(finish))
            at -= 1
            end = '"}]'
        else:
            end = "}]}]"
    except (StopIteration, ValueError, RecursionError):
        return None
    if at + len(end) != len(document) or not document.startswith(end, at):
        return None
    if not role or not name:
        return None
    return role, name, arguments


def _same(found: Any, expected: Any) -> bool:
    """Equal, NaN arguments included (NaN is not equal to itself)."""
    return json.dumps(found) == json.dumps(expected) if found is not None else expected is None


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _message(),
    st.integers(0, 2),
    st.booleans(),
    st.sampled_from(_DAMAGES),
    st.integers(0, 10**6),
    st.one_of(_FLAT, _VALUE),
)
def test_one_tool_call_message_reads_what_the_former_reader_reads(
    message: dict[str, Any],
    layout: int,
    ascii_only: bool,
    damage: int,
    where: int,
    arguments: Any,
) -> None:
    if message["parts"] and message["parts"][0]["type"] == "tool_call":
        message["parts"] = [{**message["parts"][0], "arguments": arguments}]
    document = _damaged(_dumps([message], layout, ascii_only), damage, where)
    assert _same(one_tool_call_message(document), _former_one_tool_call_message(document))


def test_a_broken_pattern_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above fails on a pattern that takes what the decoder refuses."""
    loose = dumped_history._LAST.pattern.replace(r'[^"\\\x00-\x1f]', r'[^"\\]')
    monkeypatch.setattr(dumped_history, "_LAST", re.compile(loose))
    call = {"type": "tool_call", "id": "c", "name": "t", "arguments": {}}
    history = [
        _SYSTEM,
        {"role": "assistant", "parts": [call]},
        {"role": "user", "parts": [{"type": "text", "content": "raw\ttab"}]},
    ]
    document = json.dumps(history).replace("\\t", "\t")  # a raw control character
    with _general():
        expected = new_input_text(document)
    assert new_input_text(document) != expected


def _loop_run(rounds: int, arguments: Any, response: Any) -> Any:
    trace = Trace()
    root = trace.start("invoke_agent a", {"gen_ai.operation.name": "invoke_agent"}, at=0)
    history: list[Any] = [_SYSTEM, {"role": "user", "parts": [{"type": "text", "content": "Q"}]}]
    for step in range(rounds):
        call = {"type": "tool_call", "id": f"c{step}", "name": "track", "arguments": arguments}
        output = [{"role": "assistant", "parts": [call], "finish_reason": "tool_call"}]
        trace.span(
            "chat m",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m",
                "gen_ai.input.messages": json.dumps(history),
                "gen_ai.output.messages": json.dumps(output),
            },
            parent=root,
            at=1 + step,
            until=1.5 + step,
        )
        history.append({"role": "assistant", "parts": [call]})
        result = {"type": "tool_call_response", "id": f"c{step}", "response": response}
        history.append({"role": "tool", "parts": [result]})
    root.end(end_time=BASE_NS + (rounds + 2) * MS)
    return trace.run(root)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 5), st.one_of(_FLAT, _VALUE), st.one_of(_FLAT, _VALUE))
def test_an_agent_loops_payload_is_the_same_bytes_as_the_general_reading_gives(
    rounds: int, arguments: Any, response: Any
) -> None:
    run = _loop_run(rounds, arguments, response)
    fast = encode_payload(convert.convert_run(run)).body
    with _general(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(convert, "read_common", lambda span, capture_content=True: None)
        general = encode_payload(convert.convert_run(run)).body  # every span: read_span
    assert fast == general


def _bases() -> list[str]:
    """Agent loops' histories whose last two turns the patterns take."""
    call = {"type": "tool_call", "id": "c1", "name": "track", "arguments": {}}
    result = {"type": "tool_call_response", "id": "c1", "response": None}
    documents = []
    for arguments, response in [
        ({"parcel": 70, "step": -1, "note": "a {b}, [c]", "ok": True, "n": None}, {"hub": "Lyon"}),
        ({"a": [1, 2], "b": {"c": 2.5e-3}}, {"x": [1, 2], "y": "t\u00e9\n"}),
        ({"q": 0, "r": 10.25}, "plain text"),
        ('{"already": "text"}', [{"type": "text", "text": "part"}]),
    ]:
        for assistant in (
            {"role": "assistant", "parts": [{**call, "arguments": arguments}]},
            {
                "role": "assistant",
                "parts": [{**call, "arguments": arguments}],
                "finish_reason": "x",
            },
            {"role": "assistant", "parts": [{"type": "text", "content": "Let me look."}]},
        ):
            for last in (
                {"role": "tool", "parts": [{**result, "response": response}]},
                {"role": "user", "parts": [{"type": "text", "content": 'And "then"?\n'}]},
            ):
                documents.append(json.dumps([_SYSTEM, assistant, last]))
    return documents


@pytest.mark.timeout(120)
def test_every_change_of_one_character_near_the_end_reads_as_the_scan_reads() -> None:
    """Each character of the last turns changed, removed or doubled, or one added before it:
    the patterns and the scan of every item read the same from each such text."""
    taken = 0
    for base in _bases():
        assert last_turn(base) is not None
        variants = [base]
        for near in range(max(0, len(base) - 320), len(base)):
            variants.append(base[:near] + base[near + 1 :])
            for character in _DAMAGE:
                variants.append(base[:near] + character + base[near + 1 :])
                variants.append(base[:near] + character + base[near:])
        for document in variants:
            taken += last_turn(document) is not None
            shown = new_input_text(document)
            with _general():
                assert shown == new_input_text(document), document[-320:]
    assert taken > len(_bases())  # some changed texts are taken too (a changed text, say)


def test_an_empty_assistant_text_does_not_end_the_new_input() -> None:
    history = [
        _SYSTEM,
        {"role": "user", "parts": [{"type": "text", "content": "Q"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": ""}]},
        {"role": "tool", "parts": [{"type": "text", "content": "R"}]},
    ]
    document = json.dumps(history)
    assert last_turn(document) is None
    assert new_input_text(document) == "user: Q\ntool: R"  # the empty turn shows nothing


@pytest.mark.timeout(120)
def test_every_change_of_one_character_of_a_tool_call_reads_as_the_former_reader_reads() -> None:
    call = {"type": "tool_call", "id": "c1", "name": "tr\u00e4ck", "arguments": {}}
    for arguments in ({"parcel": 70, "note": "a {b}, [c]"}, [1, {"x": None}], "text", 0.5):
        for finish in (None, "tool_call"):
            message: dict[str, Any] = {
                "role": "assistant",
                "parts": [{**call, "arguments": arguments}],
            }
            if finish is not None:
                message["finish_reason"] = finish
            base = json.dumps([message])
            assert one_tool_call_message(base) is not None
            for near in range(len(base)):
                variants = [base[:near] + base[near + 1 :]]
                for character in _DAMAGE:
                    variants.append(base[:near] + character + base[near + 1 :])
                    variants.append(base[:near] + character + base[near:])
                for document in variants:
                    assert _same(
                        one_tool_call_message(document), _former_one_tool_call_message(document)
                    ), document
