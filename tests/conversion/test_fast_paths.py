"""The shortcuts conversion takes for common values give what the general paths give.

Each shortcut (the mapping check, the JSON encoder made once, shown text and numbers,
sections built clean) is compared with the general code it stands in for, on the
values it answers at once and on those it hands on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.conventions.values import is_mapping, to_json
from infinium_otel.payload import convert
from infinium_otel.payload.encode import cap
from infinium_otel.payload.order import clean_member, plain_number, plain_text
from infinium_otel.payload.shown import shown_number, shown_text

from .builder import Trace


class _Frozen(Mapping[str, Any]):
    """A mapping that is not a dict."""

    def __init__(self, inner: dict[str, Any]) -> None:
        self._inner = inner

    def __getitem__(self, key: str) -> Any:
        return self._inner[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)


class _Text(str):
    """A ``str`` subclass, as an attribute value may be."""


_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


def test_is_mapping_agrees_with_the_abc_check() -> None:
    values: list[Any] = [
        None,
        "",
        "x",
        b"x",
        0,
        1.5,
        True,
        [],
        (),
        {},
        {"a": 1},
        _Frozen({"a": 1}),
        _Text("x"),
        object(),
        frozenset(),
    ]
    for value in values:
        assert is_mapping(value) is isinstance(value, Mapping), value


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_to_json_is_what_json_dumps_writes(value: Any) -> None:
    try:
        expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (ValueError, TypeError, RecursionError):
        expected = None
    assert to_json(value) == expected


def test_to_json_refuses_what_the_standard_encoder_refuses_and_recovers() -> None:
    looped: list[Any] = []
    looped.append(looped)
    assert to_json(looped) is None
    assert to_json({(1, 2): "tuple key"}) is None
    # A failed encoding leaves nothing behind that changes the next one.
    assert to_json({"a": [1, 2.5, None, "é"]}) == '{"a":[1,2.5,null,"é"]}'
    odd = {"object": _Frozen({})}
    assert to_json(odd) == json.dumps(odd, ensure_ascii=False, separators=(",", ":"), default=str)


@given(st.one_of(st.text(max_size=40), st.text(max_size=40).map(_Text)), st.integers(0, 30))
def test_shown_text_is_plain_capped_text(value: str, limit: int) -> None:
    shown = shown_text(value, limit)
    assert shown == plain_text(cap(value, limit))
    assert type(shown) is str


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
    )
)
def test_shown_number_is_the_plain_number(value: Any) -> None:
    shown = shown_number(value)
    expected = plain_number(value)
    if isinstance(expected, float) and math.isnan(expected):  # pragma: no cover - never NaN
        raise AssertionError("NaN shown")
    assert shown == expected
    assert type(shown) is type(expected)


def _tool_run(tool_names: list[str], hosts: list[str], section: Mapping[str, Any]) -> Any:
    builder = Trace()
    root = builder.start("invoke_agent a", {"gen_ai.operation.name": "invoke_agent", **section})
    at = 1.0
    for index, name in enumerate(tool_names):
        tool = builder.start(
            "execute_tool",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name},
            parent=root,
            at=at,
        )
        if index < len(hosts):
            http = builder.start(
                "GET",
                {"http.request.method": "GET", "server.address": hosts[index]},
                parent=tool,
                at=at,
            )
            http.end(end_time=tool.start_time + 1)  # type: ignore[operator]
        tool.end(end_time=tool.start_time + 2)  # type: ignore[operator]
        at += 1
    root.end(end_time=root.start_time + 10**9)  # type: ignore[operator]
    return builder.run(root)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["lookup", "search", "x" * 600, "lookup"]), max_size=4),
    st.lists(st.sampled_from(["api.example.com", "db.local", "y" * 600]), max_size=4),
)
def test_sections_made_here_are_what_the_cleaning_makes(tools: list[str], hosts: list[str]) -> None:
    run = _tool_run(tools, hosts, {})
    tree = convert.build_tree(
        convert.read_facts(run.root),
        [convert.read_facts(s) for s in run.spans if s is not run.root],
    )
    for start, end in (("2025-01-01T00:00:00.000Z", "2025-01-01T00:00:01.000Z"), (None, None)):
        built = convert._sections({}, tree, start, end)
        cleaned = clean_member(
            "sections", convert._sections({"infinium.section.general.retries": 0}, tree, start, end)
        )
        if cleaned is not None:
            # The attribute's own field aside, the cleaned sections are the built ones.
            general = cleaned.get("general", {})
            general.pop("retries", None)
            if not general:
                cleaned.pop("general", None)
        assert built == (cleaned or None)
        assert json.dumps(built) == json.dumps(cleaned or None)  # same key order too


def test_sections_from_attributes_still_go_through_the_cleaning() -> None:
    run = _tool_run(["lookup"], [], {"infinium.section.general.tags": ["b", "a"]})
    payload = convert.convert_run(run)
    assert payload["sections"]["general"] == {"tools_used": ["lookup"], "tags": ["b", "a"]}
    assert list(payload["sections"]) == ["time_tracking", "general"]
