"""A history's items found from its end where ``json.dumps`` puts them are the items the walk
over every brace found: same items, same order, and the same texts given up on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infinium_otel.conventions import new_input
from infinium_otel.conventions.values import JSON_WHITESPACE, SCAN_JSON

_MAX_MESSAGES = 200
_MAX_MISSES = 64


def _former_items_from_end(document: str) -> Iterator[Any]:
    """The scan as it was before items were looked for after ", " first (frozen copy)."""
    end = len(document.rstrip(JSON_WHITESPACE))
    if end < 2 or document[0] != "[" or document[end - 1] != "]":
        raise new_input._Undelimited
    following = end - 1
    search = following
    misses = 0
    for _ in range(_MAX_MESSAGES):
        while True:
            start = document.rfind("{", 1, search)
            if start < 0 or misses > _MAX_MISSES:
                raise new_input._Undelimited
            search = start
            before = start - 1
            while document[before] in JSON_WHITESPACE:
                before -= 1
            separator = document[before]
            if separator != "," and (separator != "[" or before != 0):
                continue
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
            return
        following = search = before
        misses = 0


def _outcome(scan: Any, document: str) -> tuple[list[Any], bool]:
    """Every item the scan yields, and whether it gave up (at the same point)."""
    found: list[Any] = []
    try:
        for item in scan(document):
            found.append(item)
    except new_input._Undelimited:
        return found, True
    return found, False


def _same(document: str) -> None:
    assert _outcome(new_input._items_from_end, document) == _outcome(
        _former_items_from_end, document
    )


_LEAF = st.one_of(
    st.text(alphabet=st.sampled_from('ab{}[],: "\\\n'), max_size=8),
    st.integers(-5, 5),
    st.none(),
)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("rpct"), inner, max_size=3)
    ),
    max_leaves=8,
)
_ITEM = st.one_of(
    st.dictionaries(st.sampled_from(["role", "parts", "content", "x"]), _VALUE, max_size=3),
    _VALUE,
)
_SEPARATORS = st.sampled_from([(", ", ": "), (",", ":"), (",\n  ", ": "), (" , ", " : ")])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ITEM, max_size=6), _SEPARATORS, st.data())
def test_items_are_those_the_former_scan_found(
    items: list[Any], separators: tuple[str, str], data: Any
) -> None:
    document = json.dumps(items, separators=separators)
    _same(document)
    if document:  # and texts that are not quite JSON: a character dropped, changed or added
        at = data.draw(st.integers(0, len(document) - 1))
        extra = data.draw(st.sampled_from(list('{}[],:" \\a')))
        _same(document[:at] + document[at + 1 :])
        _same(document[:at] + extra + document[at + 1 :])
        _same(document[:at] + extra + document[at:])


@pytest.mark.parametrize("nested", [63, 64, 65, 66, 200])
def test_an_item_with_many_objects_inside_is_given_up_on_as_before(nested: int) -> None:
    parts = [{"type": "text", "content": str(i)} for i in range(nested)]
    history = [
        {"role": "user", "parts": [{"type": "text", "content": "q"}]},
        {"role": "tool", "parts": parts},
    ]
    document = json.dumps(history)
    _same(document)
    broken = document[:1] + "7, " + document[1:]  # not JSON at its start
    _same(broken)
    _same(document.replace('"q"', '"q" x', 1))


@pytest.mark.parametrize("nested", [1, 64, 65, 66, 200])
def test_an_item_whose_inner_objects_the_walk_gives_up_on_is_given_up_on(nested: int) -> None:
    inner = ",".join(f'{{"x":{i}}}' for i in range(nested))  # each after a bare ","
    document = f'[{{"role": "user"}}, {{"role": "tool", "parts": [{{"y":0}},{inner}]}}]'
    _same(document)
    assert _outcome(new_input._items_from_end, document)[1] is (nested > _MAX_MISSES)


@pytest.mark.parametrize(
    "document",
    [
        '[{"a": 1}, {"b": "x, {\\"c\\": 1}"}]',
        '[{"a": 1}, {"b": ", {"}, {"c": 2}]',
        '[{"a": 1},{"b": 2}, {"c": 3}]',
        '[{"a": 1}, {"b": 2},{"c": 3}]',
        '[{"a": [{"x": 1}, {"y": 2}]}, {"b": [{"x": 1}, {"y": 2}]}]',
        '[junk, {"a": 1}, {"b": 2}]',
        '[{"a": 1}, 2, {"b": 2}]',
        '[{"a": 1}, {"b": 2} x, {"c": 3}]',
        '[{"a": 1}, {"b": 2}, {"c": 3}  ]  ',
        "[, {}, {}]",
        "[{}, {}, {}]",
    ],
)
def test_texts_that_mislead_a_guess_read_as_before(document: str) -> None:
    _same(document)


def test_a_long_history_of_many_messages_reads_as_before() -> None:
    history = [
        {"role": "user" if i % 2 else "assistant", "parts": [{"type": "text", "content": f"{i}"}]}
        for i in range(450)
    ]
    _same(json.dumps(history))
    assert len(_outcome(new_input._items_from_end, json.dumps(history))[0]) == _MAX_MESSAGES
