"""pydantic-ai with its native instrumentation (``Agent.instrument_all``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("pydantic_ai", reason="pydantic-ai is not installed (extra: frameworks)")

from pydantic_ai import Agent
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from exporter.support import Pipeline

from .conftest import assert_weather_run, delivered
from .fake_model import MODEL, QUESTION, FakeModel, get_weather

INSTRUCTIONS = "You answer weather questions."


@pytest.fixture
def instrumented(pipeline: Pipeline) -> Iterator[Pipeline]:
    Agent.instrument_all(InstrumentationSettings(tracer_provider=pipeline.provider))
    try:
        yield pipeline
    finally:
        Agent.instrument_all(False)


@pytest.mark.timeout(60)
def test_one_truthful_run_per_invocation(instrumented: Pipeline, fake_model: FakeModel) -> None:
    model = OpenAIChatModel(
        MODEL, provider=OpenAIProvider(base_url=fake_model.base_url, api_key="test")
    )
    agent = Agent(model, name="weather_agent", instructions=INSTRUCTIONS, tools=[get_weather])

    result = agent.run_sync(QUESTION)

    payload = assert_weather_run(delivered(instrumented), name="weather_agent")
    assert result.output == payload["output_summary"]
    # The system instructions are not the user's question.
    assert INSTRUCTIONS not in payload["input_summary"]
    tags = payload["environment"]["custom_tags"]
    assert tags.get("gen_ai.conversation.id"), tags
    assert payload["environment"]["framework"] == "pydantic-ai"
