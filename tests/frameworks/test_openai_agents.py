"""The OpenAI Agents SDK with OpenInference's instrumentor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("agents", reason="openai-agents is not installed (extra: frameworks)")
pytest.importorskip(
    "openinference.instrumentation.openai_agents",
    reason="openinference-instrumentation-openai-agents is not installed (extra: frameworks)",
)

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_trace_processors
from openai import AsyncOpenAI
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

from exporter.support import Pipeline

from .conftest import assert_weather_run, delivered
from .fake_model import MODEL, QUESTION, FakeModel, get_weather


@pytest.fixture
def instrumented(pipeline: Pipeline) -> Iterator[Pipeline]:
    # Only OpenInference's processor: the SDK's default one would upload to OpenAI.
    set_trace_processors([])
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline.provider)
    try:
        yield pipeline
    finally:
        instrumentor.uninstrument()
        set_trace_processors([])


@pytest.mark.timeout(60)
def test_one_truthful_run_per_invocation(instrumented: Pipeline, fake_model: FakeModel) -> None:
    client = AsyncOpenAI(base_url=fake_model.base_url, api_key="test", max_retries=0)
    agent = Agent(
        name="weather_agent",
        instructions="You answer weather questions.",
        model=OpenAIChatCompletionsModel(model=MODEL, openai_client=client),
        tools=[function_tool(get_weather)],
    )

    result = Runner.run_sync(agent, QUESTION)

    payload = assert_weather_run(delivered(instrumented), name="weather_agent")
    assert result.final_output == payload["output_summary"]
