"""GoogleGenAIInstrumentor against a real google-genai client and a loopback fake endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from google import genai
from google.genai import errors, types
from google.genai.models import AsyncModels, Models
from opentelemetry.trace import SpanKind, StatusCode

from fakes.fake_google import FakeGoogle
from infinium_otel.instrumentation.google_genai import GoogleGenAIInstrumentor

from .conftest import Tracing, messages


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        yield server


@pytest.fixture
def instrumented(tracing: Tracing) -> Iterator[Tracing]:
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        instrumentor.uninstrument()


def client(fake: FakeGoogle) -> genai.Client:
    """Keep the returned client referenced while in use: collecting it closes its transport."""
    return genai.Client(api_key="test", http_options=types.HttpOptions(base_url=fake.base_url))


def test_generate_content_span(instrumented: Tracing, fake: FakeGoogle) -> None:
    fake.cached_tokens = 4
    google = client(fake)
    result = google.models.generate_content(
        model="gemini-x",
        contents="Tell me a joke",
        config=types.GenerateContentConfig(
            temperature=0.3, max_output_tokens=40, top_k=5, system_instruction="Be funny"
        ),
    )
    assert result.text == "Hello from the fake."
    span = instrumented.only()
    attrs = dict(span.attributes or {})
    assert span.name == "generate_content gemini-x"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "infinium_otel.instrumentation.google_genai"
    assert attrs["gen_ai.operation.name"] == "generate_content"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.request.model"] == "gemini-x"
    assert attrs["gen_ai.response.model"] == "gemini-fake-001"
    assert attrs["gen_ai.response.id"] == "resp-google-1"
    assert attrs["gen_ai.request.temperature"] == 0.3
    assert attrs["gen_ai.request.max_tokens"] == 40
    assert attrs["gen_ai.request.top_k"] == 5
    assert attrs["gen_ai.usage.input_tokens"] == 31
    assert attrs["gen_ai.usage.output_tokens"] == 13
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 4
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == fake.port
    assert messages(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Be funny"}]
    assert messages(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Tell me a joke"}]}
    ]
    assert messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake."}],
            "finish_reason": "stop",
        }
    ]


def test_function_calls(instrumented: Tracing, fake: FakeGoogle) -> None:
    fake.tool_calls = [("get_weather", {"city": "Rome"})]
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather?")]),
        types.Content(
            role="model",
            parts=[types.Part(function_call=types.FunctionCall(name="geo", args={}))],
        ),
    ]
    google = client(fake)
    google.models.generate_content(model="g", contents=history)
    span = instrumented.only()
    assert dict(span.attributes or {})["infinium.tool_calls"] == ("get_weather",)
    assert messages(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "tool_call", "name": "get_weather", "arguments": {"city": "Rome"}}
    ]
    assert messages(span, "gen_ai.input.messages")[1] == {
        "role": "assistant",
        "parts": [{"type": "tool_call", "name": "geo", "arguments": {}}],
    }


def test_stream_span_ends_with_final_usage(instrumented: Tracing, fake: FakeGoogle) -> None:
    fake.reply = "alpha beta gamma"
    google = client(fake)
    stream = google.models.generate_content_stream(model="g", contents="hi")
    assert instrumented.spans() == []
    text = "".join(chunk.text or "" for chunk in stream)
    assert text == "alpha beta gamma"
    span = instrumented.only()
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.usage.output_tokens"] == 13
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert messages(span, "gen_ai.output.messages")[0]["parts"] == [
        {"type": "text", "content": "alpha beta gamma"}
    ]


def test_async_plain_and_stream(instrumented: Tracing, fake: FakeGoogle) -> None:
    async def run() -> str:
        google = client(fake)
        aio = google.aio
        await aio.models.generate_content(model="g", contents="hi")
        stream = await aio.models.generate_content_stream(model="g", contents="hi")
        return "".join([chunk.text or "" async for chunk in stream])

    assert asyncio.run(run()) == "Hello from the fake."
    spans = instrumented.spans()
    assert [s.name for s in spans] == ["generate_content g", "generate_content g"]
    assert all(dict(s.attributes or {})["gen_ai.usage.input_tokens"] == 31 for s in spans)


def test_error(instrumented: Tracing, fake: FakeGoogle) -> None:
    fake.error_status = 400
    google = client(fake)
    with pytest.raises(errors.ClientError):
        google.models.generate_content(model="g", contents="hi")
    span = instrumented.only()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["error.type"] == "ClientError"


def test_uninstrument_restores(tracing: Tracing, fake: FakeGoogle) -> None:
    names = ("generate_content", "generate_content_stream")
    originals = [cls.__dict__[n] for cls in (Models, AsyncModels) for n in names]
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracing.provider)
    instrumentor.uninstrument()
    restored = [cls.__dict__[n] for cls in (Models, AsyncModels) for n in names]
    assert all(a is b for a, b in zip(originals, restored, strict=True))
    google = client(fake)
    google.models.generate_content(model="g", contents="hi")
    assert tracing.spans() == []
