"""Messages given as a generator (any one-shot iterable) reach the provider intact.

The instrumentor reads the history to record it; a one-shot iterable is turned
into a list once, that list goes to the SDK and the record is made from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from fakes.fake_anthropic import FakeAnthropic
from fakes.fake_google import FakeGoogle
from fakes.fake_openai import FakeOpenAI
from infinium_otel.instrumentation.anthropic import AnthropicInstrumentor
from infinium_otel.instrumentation.google_genai import GoogleGenAIInstrumentor
from infinium_otel.instrumentation.openai import OpenAIInstrumentor

from .conftest import Tracing, messages

HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "first"},
    {"role": "assistant", "content": "noted"},
    {"role": "user", "content": "second"},
]


def one_shot(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from items


def failing_after(items: list[dict[str, Any]], error: Exception) -> Iterator[dict[str, Any]]:
    yield from items
    raise error


@pytest.fixture
def openai_traced(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def anthropic_traced(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def google_traced(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        instrumentor.uninstrument()


def recorded_texts(tracing: Tracing) -> list[str]:
    recorded = messages(tracing.only(), "gen_ai.input.messages")
    return [part["content"] for message in recorded for part in message["parts"]]


def test_openai_chat_generator_reaches_the_server(openai_traced: Tracing) -> None:
    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="m", messages=one_shot(HISTORY))
        assert fake.requests[-1].body["messages"] == HISTORY
    assert recorded_texts(openai_traced) == ["Be brief.", "first", "noted", "second"]


def test_openai_async_chat_generator_reaches_the_server(openai_traced: Tracing) -> None:
    with FakeOpenAI() as fake:

        async def call() -> None:
            client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
            await client.chat.completions.create(model="m", messages=one_shot(HISTORY))

        asyncio.run(call())
        assert fake.requests[-1].body["messages"] == HISTORY
    assert recorded_texts(openai_traced) == ["Be brief.", "first", "noted", "second"]


def test_openai_responses_input_generator_reaches_the_server(openai_traced: Tracing) -> None:
    items = [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        client.responses.create(model="m", input=one_shot(items))  # type: ignore[arg-type]
        assert fake.requests[-1].body["input"] == items
    assert recorded_texts(openai_traced) == ["one", "two"]


def test_anthropic_generator_reaches_the_server(anthropic_traced: Tracing) -> None:
    history = HISTORY[1:]
    with FakeAnthropic() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)
        client.messages.create(model="c", max_tokens=10, messages=one_shot(history))
        assert fake.requests[-1].body["messages"] == history
    assert recorded_texts(anthropic_traced) == ["first", "noted", "second"]


def test_an_iterable_that_fails_fails_the_call_as_without_us(openai_traced: Tracing) -> None:
    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        with pytest.raises(LookupError, match="history unavailable"):
            client.chat.completions.create(
                model="m", messages=failing_after(HISTORY[:1], LookupError("history unavailable"))
            )
        assert fake.requests == []


def test_google_iterator_contents_reach_the_server_untouched(google_traced: Tracing) -> None:
    with FakeGoogle() as fake:
        client = genai.Client(
            api_key="test", http_options=types.HttpOptions(base_url=fake.base_url)
        )
        client.models.generate_content(model="g", contents=iter(["x", "y"]))
        assert fake.requests[-1].body["contents"] == [
            {"parts": [{"text": "x"}, {"text": "y"}], "role": "user"}
        ]
    # Google's SDK treats a one-shot iterable differently from a list, so it gets the
    # original object; the record does not pretend to know what it held.
    attributes = dict(google_traced.only().attributes or {})
    assert "gen_ai.input.messages" not in attributes


def test_only_one_shot_iterables_are_replaced() -> None:
    from infinium_otel.instrumentation._inputs import materialised

    given_list, given_tuple = list(HISTORY), tuple(HISTORY)
    kwargs = {"messages": given_list, "input": given_tuple, "model": "m"}
    same, complete = materialised(kwargs, ("messages", "input"))
    assert same is kwargs and complete
    assert same["messages"] is given_list and same["input"] is given_tuple

    kwargs = {"messages": one_shot(HISTORY), "model": "m"}
    changed, complete = materialised(kwargs, ("messages",))
    assert complete and changed is not kwargs
    assert changed == {"messages": HISTORY, "model": "m"}
