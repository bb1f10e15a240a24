"""A stream the caller stops reading half way still ends with the span it was opened under.

The caller breaks out of the loop and keeps the stream object; when the
enclosing span (our ``agent()`` or a plain user span) ends, the stream's span
ends first, with the usage and output seen so far and
``infinium.stream.abandoned = true``, so the run keeps the LLM call.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from conversion.checks import check_payload
from fakes.fake_anthropic import FakeAnthropic
from fakes.fake_openai import FakeOpenAI
from infinium_otel import configure
from infinium_otel.instrumentation import _abandon
from infinium_otel.instrumentation.anthropic import AnthropicInstrumentor
from infinium_otel.instrumentation.helpers import agent, configure_helpers
from infinium_otel.instrumentation.openai import OpenAIInstrumentor
from infinium_otel.sandbox import Sandbox

from .conftest import Tracing, messages

CHAT = [{"role": "user", "content": "Count to three"}]
ABANDONED = "infinium.stream.abandoned"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(model="gpt-fake", reply="one two three") as server:
        yield server


@pytest.fixture
def traced(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    configure_helpers(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        configure_helpers()
        instrumentor.uninstrument()


def client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def stream_with_usage(fake: FakeOpenAI) -> Any:
    return client(fake).chat.completions.create(
        model="gpt-fake", messages=CHAT, stream=True, stream_options={"include_usage": True}
    )


def test_stream_abandoned_inside_a_plain_user_span(traced: Tracing, fake: FakeOpenAI) -> None:
    tracer = traced.provider.get_tracer("app")
    with tracer.start_as_current_span("handle request"):
        stream = stream_with_usage(fake)
        for chunk in stream:
            if chunk.usage is not None:
                break  # the usage arrived: the caller stops before the end of the stream
        assert traced.spans() == []  # still open while the caller holds it
    chat, parent = traced.spans()  # the stream span ended first, before its parent
    assert parent.name == "handle request"
    assert chat.parent is not None and chat.parent.span_id == parent.context.span_id
    assert chat.end_time is not None and parent.end_time is not None
    assert chat.end_time <= parent.end_time
    values = attributes(chat)
    assert values[ABANDONED] is True
    assert values["gen_ai.usage.input_tokens"] == 11
    assert values["gen_ai.usage.output_tokens"] == 7
    assert messages(chat, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "one two three"}
    ]
    assert list(stream) == []  # the caller may go on; nothing ends twice
    del stream
    gc.collect()
    assert len(traced.spans()) == 2


def test_stream_abandoned_inside_our_agent(traced: Tracing, fake: FakeOpenAI) -> None:
    with agent("counter"):
        stream = client(fake).chat.completions.create(model="gpt-fake", messages=CHAT, stream=True)
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
        next(iter(stream))  # "one"
    chat, root = traced.spans()
    assert root.name == "invoke_agent counter"
    values = attributes(chat)
    assert values[ABANDONED] is True
    assert "gen_ai.usage.input_tokens" not in values  # none seen yet
    assert messages(chat, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "one"}
    ]
    assert stream.response.status_code == 200


def test_stream_read_to_the_end_is_not_abandoned(
    traced: Tracing, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with agent("reader") as root_span:
        for _ in stream_with_usage(fake):
            pass
        assert "end" not in root_span.__dict__  # nothing left to watch: the parent is as it was
    chat, _ = traced.spans()
    assert ABANDONED not in attributes(chat)
    assert attributes(chat)["gen_ai.usage.output_tokens"] == 7
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_async_stream_abandoned_inside_our_agent(traced: Tracing, fake: FakeOpenAI) -> None:
    kept: list[Any] = []

    async def run() -> None:
        aclient = openai.AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        async with agent("async-counter"):
            stream = await aclient.chat.completions.create(
                model="gpt-fake",
                messages=CHAT,
                stream=True,
                stream_options={"include_usage": True},
            )
            kept.append(stream)
            async for chunk in stream:
                if chunk.usage is not None:
                    break

    asyncio.run(run())
    chat, root = traced.spans()
    assert root.name == "invoke_agent async-counter"
    assert attributes(chat)[ABANDONED] is True
    assert attributes(chat)["gen_ai.usage.input_tokens"] == 11


def test_parent_ended_from_another_thread(traced: Tracing, fake: FakeOpenAI) -> None:
    tracer = traced.provider.get_tracer("app")
    parent = tracer.start_span("job")
    from opentelemetry import trace

    with trace.use_span(parent, end_on_exit=False):
        stream = client(fake).chat.completions.create(model="gpt-fake", messages=CHAT, stream=True)
        next(iter(stream))
    ender = threading.Thread(target=parent.end)
    ender.start()
    ender.join(10)
    names = [s.name for s in traced.spans()]
    assert names == ["chat gpt-fake", "job"]
    assert attributes(traced.spans()[0])[ABANDONED] is True
    assert stream is not None


def test_open_streams_per_parent_are_bounded(
    traced: Tracing, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_abandon, "MAX_OPEN_PER_PARENT", 3)
    tracer = traced.provider.get_tracer("app")
    oai = client(fake)
    streams = []
    with tracer.start_as_current_span("many"):
        for _ in range(5):
            streams.append(
                oai.chat.completions.create(model="gpt-fake", messages=CHAT, stream=True)
            )
    ended = [s for s in traced.spans() if s.name == "chat gpt-fake"]
    assert len(ended) == 3  # the watched ones; the others end as before
    del streams
    gc.collect()
    assert len([s for s in traced.spans() if s.name == "chat gpt-fake"]) == 5


def test_anthropic_stream_abandoned_keeps_the_input_usage(tracing: Tracing) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    configure_helpers(tracer_provider=tracing.provider, capture_content=True)
    try:
        with FakeAnthropic(model="claude-fake", input_tokens=21) as fake:
            claude = anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)
            with agent("claude-user"):
                stream = claude.messages.create(
                    model="claude-fake", max_tokens=10, messages=CHAT, stream=True
                )
                for event in stream:
                    if event.type == "content_block_delta":
                        break
    finally:
        configure_helpers()
        instrumentor.uninstrument()
    chat, _ = tracing.spans()
    values = attributes(chat)
    assert values[ABANDONED] is True
    assert values["gen_ai.usage.input_tokens"] == 21
    assert values["gen_ai.response.model"] == "claude-fake"
    assert stream is not None


@pytest.mark.timeout(60)
def test_run_sent_to_the_sandbox_keeps_the_abandoned_call(
    sandbox: Sandbox, fake: FakeOpenAI
) -> None:
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        base_url=sandbox.url,
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, capture_content=True)
    configure_helpers(tracer_provider=provider, capture_content=True)
    try:
        with agent("streamer"):
            stream = stream_with_usage(fake)
            for chunk in stream:
                if chunk.usage is not None:
                    break
        assert handle.flush(timeout=10)
    finally:
        configure_helpers()
        instrumentor.uninstrument()
        handle.shutdown(timeout=5)
    stored = sandbox.wait_for_traces(1, timeout=10)
    assert len(stored) == 1
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "streamer"
    assert [step["action"] for step in payload["steps"]] == ["llm_call"]
    assert payload["llm_usage"]["prompt_tokens"] == 11
    assert payload["llm_usage"]["completion_tokens"] == 7
    assert stream is not None
