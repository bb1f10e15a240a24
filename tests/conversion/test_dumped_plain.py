"""A history's tool result and a chat call's tool-call arguments shown as their own text
compacted, without decoding them, read what the decoding reading reads: ``shown_tool_result``
is compared with ``new_input_text`` without it, ``plain_tool_call_output`` with
``one_tool_call_message`` then ``to_json``, on generated objects (escapes, quotes, braces,
separators inside strings, control characters, non-ASCII, lone surrogates, floats, -0, long
integers, repeated keys, too many keys, odd layouts) and on every one-character change,
removal or addition near their ends."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infinium_otel.conventions import new_input
from infinium_otel.conventions.dumped import one_tool_call_message
from infinium_otel.conventions.dumped_plain import plain_tool_call_output, shown_tool_result
from infinium_otel.conventions.values import to_json

_CHARACTERS = st.sampled_from(
    ["a", "b", " ", ":", ",", '"', "\\", "{", "}", "[", "\x00", "\n", "é", "€", "\ud800", "text"]
)
_STRINGS = st.lists(_CHARACTERS, max_size=5).map("".join)
# Number texts whose decoded value is written otherwise, beside plain ones.
_NUMBER_TEXTS = st.sampled_from(
    [
        "0",
        "-0",
        "7",
        "-12",
        "1.0",
        "1.50",
        "1e5",
        "2E-3",
        "01",
        "12345678901234567",
        "-",
        "Infinity",
    ]
)


@st.composite
def _value_text(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return json.dumps(draw(_STRINGS), ensure_ascii=draw(st.booleans()))
    if choice == 1:
        return '"' + draw(_STRINGS) + '"'  # raw: quotes, backslashes, controls left as they are
    if choice == 2:
        return draw(_NUMBER_TEXTS)
    if choice == 3:
        return json.dumps(draw(st.integers(-(10**20), 10**20)))
    if choice == 4:
        return json.dumps(draw(st.floats(allow_nan=False)))
    return draw(st.sampled_from(["true", "false", "null", "[1]", "{}", '{"a": 1}']))


@st.composite
def _object_text(draw: st.DrawFn) -> str:
    """An object's text in json.dumps's layout or near it, keys possibly repeated."""
    keys = draw(st.lists(st.one_of(_STRINGS, st.sampled_from(["text", "json", "a"])), max_size=10))
    items = []
    for key in keys:
        written = json.dumps(key) if draw(st.booleans()) else '"' + key + '"'
        items.append(f"{written}{draw(st.sampled_from([': ', ':', ' : ']))}{draw(_value_text())}")
    separator = draw(st.sampled_from([", ", ", ", ",", " , "]))
    return "{" + separator.join(items) + "}"


def _output(
    arguments: str, finish: bool = True, name: str = "track", role: str = "assistant"
) -> str:
    end = ', "finish_reason": "tool_call"}]' if finish else "}]"
    return (
        f'[{{"role": "{role}", "parts": [{{"type": "tool_call", "id": "call_1", "name": "{name}",'
        f' "arguments": {arguments}}}]{end}'
    )


def _former_output(document: str) -> str | None:
    """The output as common_facts rendered one call before: decoded, then encoded."""
    called = one_tool_call_message(document)
    if called is None:
        return None
    arguments = called[2]
    rendered = arguments if type(arguments) is str else to_json(arguments)
    return f"tool_call {called[1]}({rendered or ''})"


_PREFIX = json.dumps(
    [
        {"role": "system", "parts": [{"type": "text", "content": "Track parcels. " * 60}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is parcel 7?"}]},
    ]
)[:-1]


def _history(arguments: str, response: str, role: str = "tool", finish: bool = False) -> str:
    call = _output(arguments, finish)[1:-1]
    result = (
        f'{{"role": "{role}", "parts": [{{"type": "tool_call_response", "id": "call_1", '
        f'"response": {response}}}]}}'
    )
    return f"{_PREFIX}, {call}, {result}]"


def _former_input(document: str) -> str | None:
    """``new_input_text`` without the text-only reading of the tool result."""
    with mock.patch.object(new_input, "shown_tool_result", lambda _: None):
        return new_input.new_input_text(document)


def _same_input(document: str) -> bool:
    """Whether ``shown_tool_result`` answered, checking its answer against the former one."""
    said = shown_tool_result(document)
    if said is not None:
        assert said == _former_input(document), document[-400:]
    assert new_input.new_input_text(document) == _former_input(document), document[-400:]
    return said is not None


def _same_output(document: str) -> bool:
    said = plain_tool_call_output(document)
    if said is not None:
        assert said == _former_output(document), document
    return said is not None


_ROLES = st.sampled_from(["tool", "user", "system", "developer", "assistant", "", "x{", "é"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_object_text(), _object_text(), _ROLES, st.booleans())
def test_generated_objects_read_as_decoded(
    arguments: str, response: str, role: str, finish: bool
) -> None:
    _same_output(_output(arguments, finish))
    _same_input(_history(arguments, response, role, finish))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(blacklist_characters='"\\{', blacklist_categories=("Cc",))),
        st.one_of(
            st.integers(-(10**15), 10**15),
            st.booleans(),
            st.none(),
            st.text(st.characters(blacklist_characters='"\\{', blacklist_categories=("Cc",))),
        ),
        min_size=1,
        max_size=9,
    )
)
def test_plain_objects_taken_and_read_as_decoded(value: dict[str, Any]) -> None:
    """Objects json.dumps writes without escapes are mostly taken, and read the same."""
    text = json.dumps(value, ensure_ascii=False)
    taken = _same_output(_output(text))
    taken_input = _same_input(_history('{"parcel": 7}', text))
    plain = all(
        not s.startswith(": ") and not s.endswith(", ")
        for s in [*value, *(v for v in value.values() if type(v) is str)]
    )
    if plain and len(value) <= 8:
        assert taken
        assert (
            taken_input or set(value) <= {"text", "json"} or next(iter(value)) in {"text", "json"}
        )


_HISTORY = _history(
    '{"parcel": 7, "step": 3}', '{"status": "in transit", "hub": "Lyon", "step": 3}'
)
_OUTPUT = _output('{"parcel": 7, "step": 3}')
_EDITS = ["", " ", '"', "\\", "{", "}", ",", ":", "0", "-", ".", "\x01", "é"]


def _edited(document: str, start: int) -> list[str]:
    out = []
    for at in range(start, len(document)):
        for character in _EDITS:
            out.append(document[:at] + character + document[at + 1 :])  # changed or removed
            out.append(document[:at] + character + document[at:])  # added
    return out


def test_benchmark_shape_is_taken() -> None:
    assert (
        shown_tool_result(_HISTORY) == 'tool result: {"status":"in transit","hub":"Lyon","step":3}'
    )
    assert plain_tool_call_output(_OUTPUT) == 'tool_call track({"parcel":7,"step":3})'


def test_every_edit_near_the_end_reads_as_decoded() -> None:
    history_start = len(_HISTORY) - 260
    taken = sum(_same_input(text) for text in _edited(_HISTORY, history_start))
    assert taken > 0
    taken = sum(_same_output(text) for text in _edited(_OUTPUT, 0))
    assert taken > 0


def test_odd_objects() -> None:
    for arguments in [
        '{"a": 1, "a": 2}',
        '{"a": 1, "b": 2, "a": 3}',
        '{"a": ": b"}',
        '{": a": 1}',
        '{"a, ": 1}',
        '{"a": "b, "}',
        '{"a": -0}',
        '{"a": 1.0}',
        '{"a": 12345678901234567}',
        "{}",
        '{"text": "x"}',
        '{"json": 1}',
        '{"text": 1, "b": 2}',
        '{"a": "\\u00e9"}',
        '{"a": "é\ud800"}',
        '{"a": "x{y"}',
        '{"a":1}',
        '{"a": 1,"b": 2}',
        '{"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7}',
        '{"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8}',
        '{"k0": 0, "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k0": 7}',
    ]:
        _same_output(_output(arguments))
        for role in ["tool", "system", "assistant", "developer"]:
            _same_input(_history('{"parcel": 7}', arguments, role))
            _same_input(_history(arguments, '{"status": "ok"}', role))
        _same_input(" " + _history('{"parcel": 7}', arguments))
        _same_input("{" + _history('{"parcel": 7}', arguments)[1:])


def test_braces_in_strings_past_the_scans_limit() -> None:
    """Strings holding more braces than the backward scan tries, in a text that is not JSON
    before its tail: the former reading gives up on it, so the text-only reading must too."""
    many = ", {" * 70
    broken = _PREFIX + ", oops"
    for arguments, response in [
        ('{"parcel": 7}', f'{{"status": "{many}"}}'),
        (f'{{"parcel": "{many}"}}', '{"status": "ok"}'),
        ('{"parcel": 7}', f'{{"{many}": 1}}'),
    ]:
        for prefix in [_PREFIX, broken]:
            document = _history(arguments, response).replace(_PREFIX, prefix, 1)
            _same_input(document)
        _same_output(_output(f'{{"a": "{many}"}}'))
