"""Messages of the GenAI parts model read through the fast paths give what the general
readers give: one text part, tool calls and results, odd part values, long histories."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conversion import reference_facts

from infinium_otel.conventions.messages import (
    _add_parts,
    _part_text,
    message_from,
    messages_from,
)
from infinium_otel.conventions.new_input import new_input_text

_ODD = st.one_of(
    st.text(max_size=6),
    st.none(),
    st.integers(-3, 3),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
_PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("text")}, optional={"content": _ODD, "text": _ODD}),
    st.fixed_dictionaries(
        {"type": st.just("tool_call")},
        optional={"name": _ODD, "arguments": _ODD, "id": _ODD, "function": _ODD, "input": _ODD},
    ),
    st.fixed_dictionaries(
        {"type": st.just("tool_call_response")},
        optional={"response": _ODD, "result": _ODD, "output": _ODD, "content": _ODD},
    ),
    st.fixed_dictionaries({"type": _ODD}, optional={"content": _ODD}),
    _ODD,
)
_MESSAGE = st.one_of(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant", "system", "tool", "", 3]),
            "parts": st.one_of(st.lists(_PART, max_size=3), _ODD),
        },
        optional={"finish_reason": _ODD, "name": _ODD},
    ),
    _ODD,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PART, max_size=4))
def test_parts_are_rendered_as_the_general_part_reader_renders_each(parts: list[Any]) -> None:
    pieces: list[str] = []
    _add_parts(parts, pieces)
    assert pieces == [p for p in (_part_text(part) for part in parts) if p]


@settings(max_examples=400, deadline=None)
@given(st.lists(_MESSAGE, max_size=8), st.booleans(), st.sampled_from(["user", "assistant"]))
def test_a_list_of_messages_is_each_message_as_message_from_reads_it(
    history: list[Any], as_json: bool, role: str
) -> None:
    value: Any = json.dumps(history) if as_json else history
    expected = [m for m in (message_from(item, role) for item in history) if m]
    assert messages_from(value, role) == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(_MESSAGE, max_size=8), st.booleans(), st.booleans())
def test_the_new_input_of_a_parts_history_is_the_former_one(
    history: list[Any], as_json: bool, padded: bool
) -> None:
    value: Any = history
    if as_json:
        value = json.dumps(history) + ("  \n" if padded else "")
    assert new_input_text(value) == reference_facts.new_input_text(value)


def test_only_the_last_two_hundred_messages_are_read() -> None:
    history = [
        {"role": "user", "parts": [{"type": "text", "content": f"m{i}"}]} for i in range(250)
    ]
    written = json.dumps(history)
    read = messages_from(written)
    assert len(read) == 200
    assert read[0] == ("user", "m50")
    assert new_input_text(written) == reference_facts.new_input_text(written)
    assert "m49" not in (new_input_text(written) or "")


def test_text_after_a_json_value_is_no_json() -> None:
    written = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
    assert messages_from(written + " x") == [("user", written + " x")]
    assert messages_from(written + " \n") == [("user", "hi")]
    assert new_input_text(written + " x") is None
    assert new_input_text('"just text"') is None
    assert messages_from('"just text"') == [("user", "just text")]
    assert messages_from("[broken") == [("user", "[broken")]


_EDGE_PARTS: list[Any] = [
    [{"type": "text", "content": ""}],
    [{"type": "text", "content": "", "text": "x"}],
    [{"type": "text", "text": "y"}],
    [{"type": "text", "content": 5}],
    [{"type": "text", "content": None, "text": "z"}],
    [{"type": "text"}],
    [{"type": "text", "content": "a"}, {"type": "text", "content": "b"}],
    [{"type": "tool_call", "name": "f", "arguments": {"q": 1}}],
    [{"type": "tool_call_response", "result": {"ok": True}}],
    [{"type": "tool_call_response", "response": None, "content": "c"}],
    ["plain"],
    [],
]


def test_edge_parts_read_as_the_general_readers_read_them() -> None:
    for parts in _EDGE_PARTS:
        for role in ("user", "assistant", "system", "tool"):
            history = [
                {"role": "assistant", "parts": [{"type": "tool_call", "name": "g"}]},
                {"role": role, "parts": parts},
            ]
            written = json.dumps(history)
            expected = [m for m in (message_from(item, "user") for item in history) if m]
            assert messages_from(written) == expected, parts
            assert new_input_text(written) == reference_facts.new_input_text(written), parts
            pieces: list[str] = []
            _add_parts(parts, pieces)
            assert pieces == [p for p in (_part_text(part) for part in parts) if p], parts
