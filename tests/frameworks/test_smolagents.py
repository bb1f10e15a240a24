"""smolagents (``ToolCallingAgent``) with OpenInference's instrumentor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("smolagents", reason="smolagents is not installed (extra: frameworks)")
pytest.importorskip(
    "openinference.instrumentation.smolagents",
    reason="openinference-instrumentation-smolagents is not installed (extra: frameworks)",
)

from openinference.instrumentation.smolagents import SmolagentsInstrumentor
from smolagents import OpenAIServerModel, ToolCallingAgent, tool

from exporter.support import Pipeline

from .conftest import assert_weather_run, delivered
from .fake_model import MODEL, QUESTION, FakeModel, get_weather


@tool
def weather_tool(city: str) -> str:
    """Return the current weather in a city.

    Args:
        city: The city to look up.
    """
    return get_weather(city)


weather_tool.name = "get_weather"


@pytest.fixture
def instrumented(pipeline: Pipeline) -> Iterator[Pipeline]:
    instrumentor = SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline.provider)
    try:
        yield pipeline
    finally:
        instrumentor.uninstrument()


@pytest.mark.timeout(60)
def test_one_truthful_run_per_invocation(instrumented: Pipeline, fake_model: FakeModel) -> None:
    model = OpenAIServerModel(model_id=MODEL, api_base=fake_model.base_url, api_key="test")
    agent = ToolCallingAgent(
        tools=[weather_tool], model=model, name="weather_agent", max_steps=3, verbosity_level=0
    )

    result = agent.run(QUESTION)

    payload = assert_weather_run(delivered(instrumented), name="weather_agent")
    assert result == payload["output_summary"]
