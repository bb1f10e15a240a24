"""Strands Agents with its native OpenTelemetry tracing, in the default conventions (messages
as span events with JSON content blocks) and in the latest experimental ones (messages in
``gen_ai.client.inference.operation.details`` events)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("strands", reason="strands-agents is not installed (extra: frameworks-crewai)")
pytest.importorskip("strands.models.openai", reason="strands-agents[openai] is not installed")

import strands.telemetry.tracer as strands_tracer
from strands import Agent, tool
from strands.models.openai import OpenAIModel

from exporter.support import Pipeline

from .conftest import assert_weather_run, delivered
from .fake_model import MODEL, QUESTION, FakeModel, get_weather

weather_tool = tool(get_weather)


@pytest.fixture(params=["default", "gen_ai_latest_experimental"])
def instrumented(
    request: pytest.FixtureRequest, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    # Strands traces through one module-level tracer built from the global provider and the
    # environment; give it this test's provider instead of replacing the global one.
    if request.param == "default":
        monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    else:
        monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", request.param)
    tracer = strands_tracer.Tracer()
    tracer.tracer_provider = pipeline.provider
    tracer.tracer = pipeline.provider.get_tracer(strands_tracer.__name__)
    monkeypatch.setattr(strands_tracer, "_tracer_instance", tracer)
    yield pipeline


@pytest.mark.timeout(60)
def test_one_truthful_run_per_invocation(instrumented: Pipeline, fake_model: FakeModel) -> None:
    model = OpenAIModel(
        client_args={"base_url": fake_model.base_url, "api_key": "test", "max_retries": 0},
        model_id=MODEL,
    )
    agent = Agent(
        model=model,
        name="weather_agent",
        system_prompt="You answer weather questions.",
        tools=[weather_tool],
        callback_handler=None,
    )

    result = agent(QUESTION)

    payload = assert_weather_run(delivered(instrumented), name="weather_agent")
    assert str(result).strip() == payload["output_summary"]
    assert payload["environment"]["framework"] == "strands"
    for step in payload["steps"]:
        if step["action"] == "llm_call":
            assert step.get("input_preview") and step.get("output_preview"), step
