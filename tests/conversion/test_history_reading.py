"""A chat span's input is the turns after the last assistant one; only those are rendered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.conventions import messages, new_input
from infinium_otel.conventions.messages import messages_from
from infinium_otel.conventions.new_input import new_input_text, render_new_input

_ROLES = st.sampled_from(["user", "assistant", "system", "developer", "tool", None])
_TOOL_CALL = st.fixed_dictionaries(
    {"function": st.fixed_dictionaries({"name": st.text(max_size=4)})}
)
_MESSAGE = st.fixed_dictionaries(
    {"role": _ROLES},
    optional={
        "content": st.one_of(st.text(max_size=8), st.none()),
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {"function": st.fixed_dictionaries({"name": st.text(max_size=4)})}
            ),
            max_size=2,
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_MESSAGE, max_size=12), st.booleans(), st.booleans())
def test_the_shown_input_is_what_rendering_the_whole_history_gives(
    history: list[dict[str, Any]], as_json: bool, wrapped: bool
) -> None:
    value: Any = {"messages": history} if wrapped else history
    if as_json:
        value = json.dumps(value)
    shown = new_input_text(value)
    if shown is not None:  # None: the caller renders the whole history, as before
        assert shown == render_new_input(messages_from(value))


def test_turns_before_the_last_assistant_one_are_not_rendered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history: list[dict[str, Any]] = []
    for turn in range(60):
        history.append({"role": "user", "content": f"question {turn}"})
        history.append({"role": "assistant", "content": f"answer {turn}"})
    history.append({"role": "tool", "content": "result"})
    rendered = 0
    real = messages.message_from

    def counting(item: Any, default_role: str = "user") -> Any:
        nonlocal rendered
        rendered += 1
        return real(item, default_role)

    monkeypatch.setattr(new_input, "message_from", counting)
    assert new_input_text(json.dumps(history)) == "result"
    assert rendered == 1  # the tool result; the assistant turn that ends the scan is not shown
