"""OpenAIInstrumentor against a real openai client and a loopback fake endpoint."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses import Responses
from opentelemetry.trace import SpanKind, StatusCode

from fakes.fake_openai import FakeOpenAI
from infinium_otel._suppress import instrumentation_suppressed
from infinium_otel._version import __version__
from infinium_otel.instrumentation import openai as openai_module
from infinium_otel.instrumentation._common import openai_compatible_provider, server_attributes
from infinium_otel.instrumentation.openai import OpenAIInstrumentor

from .conftest import Tracing, messages

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(model="gpt-fake-1") as server:
        yield server


@pytest.fixture
def instrumented(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        instrumentor.uninstrument()


def client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)


def aclient(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="test", max_retries=0)


def test_chat_span_has_request_response_and_usage(instrumented: Tracing, fake: FakeOpenAI) -> None:
    fake.cached_tokens = 3
    result = client(fake).chat.completions.create(
        model="gpt-fake",
        messages=CHAT,
        temperature=0.2,
        max_tokens=50,
        top_p=0.9,
        seed=4,
        stop="END",
    )
    assert result.choices[0].message.content == "Hello from the fake."
    span = instrumented.only()
    assert span.name == "chat gpt-fake"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "infinium_otel.instrumentation.openai"
    assert span.instrumentation_scope.version == __version__
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai_compatible"
    assert attrs["gen_ai.request.model"] == "gpt-fake"
    assert attrs["gen_ai.response.model"] == "gpt-fake-1"
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.request.seed"] == 4
    assert attrs["gen_ai.request.stop_sequences"] == ("END",)
    assert attrs["gen_ai.usage.input_tokens"] == 11
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.response.id"] == "chatcmpl-fake-1"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == fake.port
    assert span.status.status_code is StatusCode.UNSET
    assert messages(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]},
    ]
    assert messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake."}],
            "finish_reason": "stop",
        }
    ]


def test_tool_calls_recorded_as_parts_and_names(instrumented: Tracing, fake: FakeOpenAI) -> None:
    fake.tool_calls = [("get_weather", '{"city": "Paris"}'), ("get_time", "{}")]
    history = [
        *CHAT,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c0", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c0", "content": "found"},
    ]
    client(fake).chat.completions.create(model="m", messages=history)
    span = instrumented.only()
    attrs = dict(span.attributes or {})
    assert attrs["infinium.tool_calls"] == ("get_weather", "get_time")
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls",)
    output = messages(span, "gen_ai.output.messages")
    assert output[0]["parts"] == [
        {
            "type": "tool_call",
            "name": "get_weather",
            "id": "call_0",
            "arguments": {"city": "Paris"},
        },
        {"type": "tool_call", "name": "get_time", "id": "call_1", "arguments": {}},
    ]
    inputs = messages(span, "gen_ai.input.messages")
    assert inputs[2]["parts"] == [
        {"type": "tool_call", "name": "lookup", "id": "c0", "arguments": {}}
    ]
    assert inputs[3] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "c0", "response": "found"}],
    }


def test_stream_span_ends_when_consumed_with_final_usage(
    instrumented: Tracing, fake: FakeOpenAI
) -> None:
    fake.reply = "one two three"
    stream = client(fake).chat.completions.create(
        model="m", messages=CHAT, stream=True, stream_options={"include_usage": True}
    )
    assert instrumented.spans() == []
    assert stream.response.status_code == 200  # attribute passthrough
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "one two three"
    span = instrumented.only()
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.usage.input_tokens"] == 11
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.response.model"] == "gpt-fake-1"
    assert messages(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "one two three"}
    ]


def test_stream_tool_call_arguments_joined(instrumented: Tracing, fake: FakeOpenAI) -> None:
    fake.tool_calls = [("search", '{"q": "otel"}')]
    with client(fake).chat.completions.create(model="m", messages=CHAT, stream=True) as stream:
        chunks = list(stream)
    assert len(chunks) > 2
    span = instrumented.only()
    assert dict(span.attributes or {})["infinium.tool_calls"] == ("search",)
    assert messages(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "tool_call", "name": "search", "id": "call_0", "arguments": {"q": "otel"}}
    ]


def test_stream_closed_early_or_collected_still_ends_span(
    instrumented: Tracing, fake: FakeOpenAI
) -> None:
    stream = client(fake).chat.completions.create(model="m", messages=CHAT, stream=True)
    next(iter(stream))
    stream.close()
    assert len(instrumented.spans()) == 1

    stream = client(fake).chat.completions.create(model="m", messages=CHAT, stream=True)
    del stream
    gc.collect()
    assert len(instrumented.spans()) == 2


def test_error_status_recorded_and_exception_reraised(
    instrumented: Tracing, fake: FakeOpenAI
) -> None:
    fake.error_status = 400
    with pytest.raises(openai.BadRequestError) as caught:
        client(fake).chat.completions.create(model="m", messages=CHAT)
    span = instrumented.only()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "BadRequestError"
    assert [e.name for e in span.events] == ["exception"]
    assert caught.value.status_code == 400


def test_async_chat_and_stream(instrumented: Tracing, fake: FakeOpenAI) -> None:
    async def run() -> str:
        async_client = aclient(fake)
        await async_client.chat.completions.create(model="m", messages=CHAT)
        stream = await async_client.chat.completions.create(
            model="m", messages=CHAT, stream=True, stream_options={"include_usage": True}
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return "".join(pieces)

    assert asyncio.run(run()) == "Hello from the fake."
    spans = instrumented.spans()
    assert [s.name for s in spans] == ["chat m", "chat m"]
    assert all(dict(s.attributes or {})["gen_ai.usage.output_tokens"] == 7 for s in spans)


def test_async_error(instrumented: Tracing, fake: FakeOpenAI) -> None:
    fake.error_status = 500

    async def run() -> None:
        await aclient(fake).chat.completions.create(model="m", messages=CHAT)

    with pytest.raises(openai.InternalServerError):
        asyncio.run(run())
    span = instrumented.only()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "InternalServerError"


def test_responses_api(instrumented: Tracing, fake: FakeOpenAI) -> None:
    result = client(fake).responses.create(
        model="m", input="Hi there", instructions="Be kind", max_output_tokens=30
    )
    assert result.output_text == "Hello from the fake."
    stream = client(fake).responses.create(model="m", input="Hi", stream=True)
    events = [event.type for event in stream]
    assert events[-1] == "response.completed"
    plain, streamed = instrumented.spans()
    for span in (plain, streamed):
        attrs = dict(span.attributes or {})
        assert span.name == "chat m"
        assert attrs["gen_ai.response.id"] == "resp_fake_1"
        assert attrs["gen_ai.usage.input_tokens"] == 11
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert dict(plain.attributes or {})["gen_ai.request.max_tokens"] == 30
    assert messages(plain, "gen_ai.system_instructions") == [{"type": "text", "content": "Be kind"}]
    assert messages(plain, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}
    ]
    assert messages(streamed, "gen_ai.output.messages")[0]["parts"][0]["content"] == (
        "Hello from the fake."
    )


def test_embeddings(instrumented: Tracing, fake: FakeOpenAI) -> None:
    client(fake).embeddings.create(model="emb", input=["a", "b"])
    span = instrumented.only()
    attrs = dict(span.attributes or {})
    assert span.name == "embeddings emb"
    assert attrs["gen_ai.operation.name"] == "embeddings"
    assert attrs["gen_ai.usage.input_tokens"] == 11
    assert attrs["gen_ai.embeddings.dimension.count"] == 4


def test_content_capture_off_records_no_messages(tracing: Tracing, fake: FakeOpenAI) -> None:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=False)
    try:
        client(fake).chat.completions.create(model="m", messages=CHAT)
    finally:
        instrumentor.uninstrument()
    attrs = dict(tracing.only().attributes or {})
    assert "gen_ai.input.messages" not in attrs
    assert "gen_ai.output.messages" not in attrs
    assert attrs["gen_ai.usage.output_tokens"] == 7


def test_environment_decides_capture_at_instrument_time(
    tracing: Tracing, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    try:
        client(fake).chat.completions.create(model="m", messages=CHAT)
    finally:
        instrumentor.uninstrument()
    assert "gen_ai.input.messages" not in dict(tracing.only().attributes or {})


def test_long_content_is_capped(instrumented: Tracing, fake: FakeOpenAI) -> None:
    huge = "x" * 100_000
    client(fake).chat.completions.create(model="m", messages=[{"role": "user", "content": huge}])
    content = messages(instrumented.only(), "gen_ai.input.messages")[0]["parts"][0]["content"]
    assert content == "x" * (32 * 1024 - 3) + "..."  # the package's one truncation marker


def test_suppressed_calls_make_no_span(instrumented: Tracing, fake: FakeOpenAI) -> None:
    with instrumentation_suppressed():
        client(fake).chat.completions.create(model="m", messages=CHAT)
    assert instrumented.spans() == []


def test_uninstrument_restores_originals(tracing: Tracing, fake: FakeOpenAI) -> None:
    originals = {
        cls: cls.__dict__["create"]
        for cls in (Completions, AsyncCompletions, Embeddings, Responses)
    }
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider)
    assert all(cls.__dict__["create"] is not fn for cls, fn in originals.items())
    instrumentor.uninstrument()
    assert all(cls.__dict__["create"] is fn for cls, fn in originals.items())
    assert inspect.isfunction(Completions.__dict__["create"])
    client(fake).chat.completions.create(model="m", messages=CHAT)
    assert tracing.spans() == []


@pytest.mark.parametrize(
    ("base_url", "provider"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://myres.openai.azure.com/openai", "azure.ai.openai"),
        ("https://api.x.ai/v1", "x_ai"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("http://localhost:8000/v1", "openai_compatible"),
        ("http://127.0.0.1:9/v1", "openai_compatible"),
    ],
)
def test_provider_named_from_base_url(base_url: str, provider: str) -> None:
    host, attrs = server_attributes(base_url)
    assert openai_compatible_provider(host) == provider
    assert attrs["server.address"] == host


def test_failure_inside_wrapper_leaves_call_untouched(
    instrumented: Tracing, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("extraction bug")

    caplog.set_level(logging.DEBUG, logger="infinium_otel.instrumentation")

    monkeypatch.setattr(openai_module._ChatCompletions, "response", broken)
    result = client(fake).chat.completions.create(model="m", messages=CHAT)
    assert result.choices[0].message.content == "Hello from the fake."
    assert len(instrumented.spans()) == 1  # the span still ends

    monkeypatch.setattr(openai_module._ChatCompletions, "request", broken)
    result = client(fake).chat.completions.create(model="m", messages=CHAT)
    assert result.id == "chatcmpl-fake-1"
    assert len(instrumented.spans()) == 1  # no span, no error
    assert "extraction bug" in caplog.text


def test_async_stream_closed_early_and_context_manager(
    instrumented: Tracing, fake: FakeOpenAI
) -> None:
    async def run() -> None:
        async_client = aclient(fake)
        stream = await async_client.chat.completions.create(model="m", messages=CHAT, stream=True)
        await stream.__anext__()
        await stream.close()
        async with await async_client.chat.completions.create(
            model="m", messages=CHAT, stream=True
        ) as managed:
            await managed.__anext__()

    asyncio.run(run())
    spans = instrumented.spans()
    assert len(spans) == 2
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)


def test_llm_call_inside_agent_is_its_child(instrumented: Tracing, fake: FakeOpenAI) -> None:
    from infinium_otel.instrumentation.helpers import agent, configure_helpers

    configure_helpers(tracer_provider=instrumented.provider)
    try:
        with agent("outer"):
            client(fake).chat.completions.create(model="m", messages=CHAT)
    finally:
        configure_helpers()
    chat, outer = instrumented.spans()
    assert chat.parent is not None and chat.parent.span_id == outer.context.span_id
