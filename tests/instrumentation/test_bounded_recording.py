"""Recording costs what is kept: long histories and huge arguments are written only up to the cap.

The work is counted, not timed: how often each message is serialised, how many
items of a huge argument are read, how often an element's ``__str__`` runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from fakes.fake_openai import FakeOpenAI
from infinium_otel._text import TRUNCATION_MARKER, cap
from infinium_otel.instrumentation._bounded import bounded_json, json_within
from infinium_otel.instrumentation._common import (
    MAX_MESSAGES_CHARS,
    MAX_PART_CHARS,
    messages_json,
    record_error,
)
from infinium_otel.instrumentation.helpers import INPUT_LIMIT, agent, configure_helpers, tool
from infinium_otel.instrumentation.openai import OpenAIInstrumentor

from .conftest import Tracing, messages


class CountedMessage(dict[str, Any]):
    """A message that counts how often it is serialised (``json`` and our writer read ``items``)."""

    reads = 0

    def items(self) -> Any:
        CountedMessage.reads += 1
        self.own_reads = getattr(self, "own_reads", 0) + 1
        return super().items()


class CountedItems(list[Any]):
    """A list that counts the items read from it."""

    def __init__(self, items: Any) -> None:
        super().__init__(items)
        self.consumed = 0

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            self.consumed += 1
            yield item


class Rendered:
    """An object rendered through ``__str__``, counting the renderings."""

    calls = 0

    def __str__(self) -> str:
        Rendered.calls += 1
        return "item"


def chat_message(index: int) -> dict[str, Any]:
    return {
        "role": "user",
        "parts": [{"type": "text", "content": f"message {index:05d} " + "w" * 80}],
    }


@pytest.fixture
def helpers(tracing: Tracing) -> Iterator[Tracing]:
    configure_helpers(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        configure_helpers()


# ---------------------------------------------------------------- messages


def test_long_history_writes_each_kept_message_once_and_stops_at_the_cap() -> None:
    CountedMessage.reads = 0
    history = [CountedMessage(chat_message(i)) for i in range(1000)]
    limit = 10_000
    text = messages_json(history, limit)

    kept = json.loads(text)
    assert len(text) <= limit
    assert kept == [dict(m) for m in history[-len(kept) :]]  # the newest ones, in order
    assert text == json.dumps(kept, ensure_ascii=False)
    one_more = json.dumps([dict(m) for m in history[-len(kept) - 1 :]], ensure_ascii=False)
    assert len(one_more) > limit  # as many as fit
    # Each kept message is written once, plus the one that did not fit; the rest never.
    assert CountedMessage.reads <= len(kept) + 1
    assert all(getattr(m, "own_reads", 0) <= 1 for m in history)
    assert sum(1 for m in history if getattr(m, "own_reads", 0)) <= len(kept) + 1


def test_history_that_fits_is_the_plain_json() -> None:
    history = [chat_message(i) for i in range(5)]
    assert messages_json(history) == json.dumps(history, ensure_ascii=False)
    assert messages_json([]) == "[]"


def test_a_newest_message_too_big_alone_leaves_a_marked_placeholder() -> None:
    huge = {"role": "assistant", "parts": [{"type": "text", "content": "z" * 5000}]}
    text = messages_json([chat_message(1), huge], limit=1000)
    assert json.loads(text) == [
        {"role": "assistant", "parts": [{"type": "text", "content": TRUNCATION_MARKER}]}
    ]


@pytest.mark.timeout(120)
def test_3000_message_history_through_the_real_sdk(tracing: Tracing) -> None:
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "t" * 150}
        for i in range(3000)
    ]
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    try:
        with FakeOpenAI() as fake:
            client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
            client.chat.completions.create(model="m", messages=history)
            assert len(fake.requests[-1].body["messages"]) == 3000
    finally:
        instrumentor.uninstrument()
    span = tracing.only()
    raw = str(dict(span.attributes or {})["gen_ai.input.messages"])
    recorded = messages(span, "gen_ai.input.messages")
    assert len(raw) <= MAX_MESSAGES_CHARS
    assert 100 < len(recorded) < 3000
    assert recorded[-1]["parts"][0]["content"] == history[-1]["content"]
    first_kept = 3000 - len(recorded)
    assert recorded[0]["parts"][0]["content"] == history[first_kept]["content"]


# ---------------------------------------------------------------- helper summaries


def test_huge_list_argument_is_read_only_as_far_as_the_cap(helpers: Tracing) -> None:
    items = CountedItems(range(1_000_000))

    @tool("bulk")
    def bulk(rows: list[int]) -> int:
        return len(rows)

    assert bulk(items) == 1_000_000
    items.consumed = 0  # the tool itself read them all; count only our reading
    bulk(items)
    recorded = str(dict(helpers.spans()[-1].attributes or {})["gen_ai.tool.call.arguments"])
    assert len(recorded) == MAX_PART_CHARS
    assert recorded.startswith('{"rows": [0, 1, 2, 3, ')
    assert recorded.endswith(TRUNCATION_MARKER)
    assert items.consumed <= MAX_PART_CHARS // 2


def test_huge_list_of_objects_renders_only_what_is_kept(helpers: Tracing) -> None:
    Rendered.calls = 0
    objects = [Rendered() for _ in range(1_000_000)]

    @agent("summariser")
    def summarise(rows: list[Rendered]) -> int:
        return len(rows)

    summarise(objects)
    recorded = str(dict(helpers.only().attributes or {})["infinium.input_summary"])
    assert len(recorded) == INPUT_LIMIT
    assert recorded.startswith('{"rows": ["item", "item", ')
    assert recorded.endswith(TRUNCATION_MARKER)
    assert Rendered.calls <= INPUT_LIMIT // len('"item", ') + 1


def test_summary_of_a_value_that_contains_itself_is_bounded(helpers: Tracing) -> None:
    loop: list[Any] = ["start"]
    loop.append(loop)

    @agent("loopy")
    def run(value: list[Any]) -> None:
        return None

    run(loop)
    recorded = str(dict(helpers.only().attributes or {})["infinium.input_summary"])
    assert recorded.startswith('{"value": ["start", ["start", [')
    assert len(recorded) <= INPUT_LIMIT


# ---------------------------------------------------------------- the writer and the marker


PLAIN = [
    None,
    True,
    0,
    -3.5,
    float("nan"),
    "plain",
    'quote " backslash \\ newline \n tab \t',
    "ünïcödé ✓ \u2028",
    [],
    {},
    [1, [2, [3, {"k": None}]]],
    {"a": {"b": [True, False, "x"]}, "c": 1e100},
]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_writer_equals_json_dumps_for_plain_data(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False)
    assert json_within(value, 10_000) == (expected, True)
    for limit in range(0, len(expected) + 2):
        assert bounded_json(value, limit) == cap(expected, limit)


def test_sdk_objects_are_read_like_to_jsonable() -> None:
    from openai.types.chat import ChatCompletionMessage

    message = ChatCompletionMessage(role="assistant", content="hi")
    assert json.loads(bounded_json({"m": message, "b": b"abc", "s": {7}}, 1000)) == {
        "m": {"role": "assistant", "content": "hi"},
        "b": "<3 bytes>",
        "s": [7],
    }


def test_error_descriptions_use_the_one_marker(tracing: Tracing) -> None:
    span = tracing.provider.get_tracer("t").start_span("failing")
    record_error(span, ValueError("e" * 5000))
    span.end()
    description = tracing.only().status.description or ""
    assert description == "e" * (1024 - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER


def test_no_other_truncation_marker_in_instrumentation_or_conventions() -> None:
    from pathlib import Path

    import infinium_otel

    root = Path(infinium_otel.__file__).parent
    for folder in ("instrumentation", "conventions"):
        for source in (root / folder).glob("*.py"):
            text = source.read_text(encoding="utf-8")
            assert "…" not in text, source
            assert "[truncated]" not in text, source
            assert '+ "..."' not in text, source
