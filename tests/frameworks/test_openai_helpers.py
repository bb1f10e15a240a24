"""Our OpenAI instrumentor records the client's other ways in: ``with_raw_response`` (how
langchain-openai and CrewAI call), ``parse()`` and the ``stream()`` helper; and beside another
instrumentation of the same call there is still one LLM step, whichever wraps outermost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("openai", reason="openai is not installed (extra: test)")

import openai
import pydantic
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporter.support import Pipeline
from infinium_otel import agent
from infinium_otel.instrumentation.helpers import configure_helpers
from infinium_otel.instrumentation.openai import OpenAIInstrumentor

from .conftest import delivered, llm_steps, show
from .fake_model import MODEL, QUESTION, USAGE, FakeModel

MESSAGES = [{"role": "user", "content": QUESTION}]


class Weather(pydantic.BaseModel):
    city: str


@pytest.fixture
def recorded() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, capture_content=True)
    try:
        yield memory
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def client(fake: FakeModel) -> Any:
    return openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)


def only_span(memory: InMemorySpanExporter) -> ReadableSpan:
    spans = memory.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def assert_tool_call_recorded(span: ReadableSpan) -> None:
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.usage.input_tokens"] == USAGE[0][0], attributes
    assert attributes["gen_ai.usage.output_tokens"] == USAGE[0][1], attributes
    output = json.loads(attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["name"] == "get_weather", output


@pytest.mark.timeout(30)
def test_with_raw_response_records_usage_and_output(
    recorded: InMemorySpanExporter, fake_model: FakeModel
) -> None:
    raw = client(fake_model).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES
    )

    completion = raw.parse()
    assert completion.usage.prompt_tokens == USAGE[0][0]  # the caller's parse still works
    assert_tool_call_recorded(only_span(recorded))


@pytest.mark.timeout(30)
def test_with_raw_response_async_records_usage(
    recorded: InMemorySpanExporter, fake_model: FakeModel
) -> None:
    import asyncio

    async def call() -> Any:
        aclient = openai.AsyncOpenAI(base_url=fake_model.base_url, api_key="test", max_retries=0)
        raw = await aclient.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES
        )
        return raw.parse()

    completion = asyncio.run(call())
    assert completion.choices[0].message.tool_calls
    assert_tool_call_recorded(only_span(recorded))


@pytest.mark.timeout(30)
def test_parse_is_recorded(recorded: InMemorySpanExporter, fake_model: FakeModel) -> None:
    if not hasattr(openai.resources.chat.completions.Completions, "parse"):
        pytest.skip("this openai has no chat.completions.parse")
    client(fake_model).chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=Weather
    )

    span = only_span(recorded)
    assert span.attributes["gen_ai.usage.input_tokens"] == USAGE[0][0]


@pytest.mark.timeout(30)
def test_stream_helper_is_recorded(recorded: InMemorySpanExporter, fake_model: FakeModel) -> None:
    with client(fake_model).chat.completions.stream(
        model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()

    assert final.choices[0].message.tool_calls
    assert_tool_call_recorded(only_span(recorded))


@pytest.fixture(params=["ours inside", "ours outside"])
def doubly_instrumented(request: pytest.FixtureRequest, pipeline: Pipeline) -> Iterator[Pipeline]:
    oi = pytest.importorskip(
        "openinference.instrumentation.openai", reason="openinference-instrumentation-openai"
    )
    # wrapt: the instrumentation applied last wraps outermost.
    ours, theirs = OpenAIInstrumentor(), oi.OpenAIInstrumentor()
    order = [ours, theirs] if request.param == "ours inside" else [theirs, ours]
    for instrumentor in order:
        instrumentor.instrument(tracer_provider=pipeline.provider)
    configure_helpers(tracer_provider=pipeline.provider, capture_content=True)
    try:
        yield pipeline
    finally:
        configure_helpers()
        for instrumentor in reversed(order):
            instrumentor.uninstrument()


@pytest.mark.timeout(30)
def test_one_llm_step_beside_another_instrumentation(
    doubly_instrumented: Pipeline, fake_model: FakeModel
) -> None:
    with agent("weather_agent"):
        client(fake_model).chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES
        ).parse()

    payloads = delivered(doubly_instrumented)
    assert len(payloads) == 1, show(payloads)
    (step,) = llm_steps(payloads[0])
    assert step["llm_call"]["prompt_tokens"] == USAGE[0][0]
    assert payloads[0]["llm_usage"]["api_calls_count"] == 1
