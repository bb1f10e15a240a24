"""CrewAI with OpenInference's CrewAI instrumentor; its model calls (CrewAI's own OpenAI provider,
``with_raw_response.create``) recorded by OpenInference's OpenAI instrumentor or by ours."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# CrewAI's own telemetry and trace upload stay off: the tests reach only loopback servers.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

pytest.importorskip("crewai", reason="crewai is not installed (extra: frameworks-crewai)")
pytest.importorskip(
    "openinference.instrumentation.crewai",
    reason="openinference-instrumentation-crewai is not installed (extra: frameworks-crewai)",
)

from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool as crew_tool
from openinference.instrumentation.crewai import CrewAIInstrumentor

from exporter.support import Pipeline

from .conftest import assert_weather_run, delivered
from .fake_model import MODEL, QUESTION, TOOL_NAME, FakeModel, get_weather


@crew_tool(TOOL_NAME)
def weather_tool(city: str) -> str:
    """Return the current weather in a city."""
    return get_weather(city)


def model_instrumentor(name: str) -> Any:
    if name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()
    from infinium_otel.instrumentation.openai import OpenAIInstrumentor as Ours

    return Ours()


@pytest.fixture(params=["openinference", "infinium"])
def instrumented(request: pytest.FixtureRequest, pipeline: Pipeline) -> Iterator[Pipeline]:
    instrumentors = [CrewAIInstrumentor(), model_instrumentor(request.param)]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=pipeline.provider)
    try:
        yield pipeline
    finally:
        for instrumentor in reversed(instrumentors):
            instrumentor.uninstrument()


@pytest.mark.timeout(90)
def test_one_truthful_run_per_invocation(instrumented: Pipeline, fake_model: FakeModel) -> None:
    llm = LLM(model=f"openai/{MODEL}", base_url=fake_model.base_url, api_key="test")
    agent = Agent(
        role="weather_agent",
        goal="Answer weather questions",
        backstory="A meteorologist.",
        tools=[weather_tool],
        llm=llm,
        verbose=False,
    )
    task = Task(description=QUESTION, expected_output="The weather.", agent=agent)

    output = Crew(agents=[agent], tasks=[task], verbose=False).kickoff()

    payload = assert_weather_run(delivered(instrumented), name="weather_agent")
    assert str(output) == payload["output_summary"]
    assert payload["environment"]["framework"] == "crewai"
