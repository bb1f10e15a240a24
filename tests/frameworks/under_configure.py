"""Child process for ``test_under_configure``: ``configure()`` (a global provider, our
instrumentors loaded) beside a framework's own instrumentation, one invocation against the fake
model, every payload the sandbox accepted printed as JSON on the last line.

    python under_configure.py TESTS_DIR FRAMEWORK
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def pydantic_ai(base_url: str) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from frameworks.fake_model import MODEL, QUESTION, get_weather

    Agent.instrument_all()
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=base_url, api_key="test"))
    Agent(model, name="weather_agent", tools=[get_weather]).run_sync(QUESTION)


def openai_agents(base_url: str) -> None:
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_trace_processors,
    )
    from openai import AsyncOpenAI
    from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    from frameworks.fake_model import MODEL, QUESTION, get_weather

    set_trace_processors([])
    OpenAIAgentsInstrumentor().instrument()
    client = AsyncOpenAI(base_url=base_url, api_key="test", max_retries=0)
    agent = Agent(
        name="weather_agent",
        model=OpenAIChatCompletionsModel(model=MODEL, openai_client=client),
        tools=[function_tool(get_weather)],
    )
    Runner.run_sync(agent, QUESTION)


def smolagents(base_url: str) -> None:
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    from smolagents import OpenAIServerModel, ToolCallingAgent

    from frameworks.fake_model import MODEL, QUESTION
    from frameworks.test_smolagents import weather_tool

    SmolagentsInstrumentor().instrument()
    model = OpenAIServerModel(model_id=MODEL, api_base=base_url, api_key="test")
    agent = ToolCallingAgent(
        tools=[weather_tool], model=model, name="weather_agent", max_steps=3, verbosity_level=0
    )
    agent.run(QUESTION)


def strands(base_url: str) -> None:
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel

    from frameworks.fake_model import MODEL, QUESTION, get_weather

    model = OpenAIModel(client_args={"base_url": base_url, "api_key": "test"}, model_id=MODEL)
    agent = Agent(
        model=model, name="weather_agent", tools=[tool(get_weather)], callback_handler=None
    )
    agent(QUESTION)


def crewai(base_url: str) -> None:
    from crewai import LLM, Agent, Crew, Task
    from openinference.instrumentation.crewai import CrewAIInstrumentor

    from frameworks.fake_model import MODEL, QUESTION
    from frameworks.test_crewai import weather_tool

    CrewAIInstrumentor().instrument()
    llm = LLM(model=f"openai/{MODEL}", base_url=base_url, api_key="test")
    agent = Agent(
        role="weather_agent",
        goal="Answer weather questions",
        backstory="A meteorologist.",
        tools=[weather_tool],
        llm=llm,
    )
    task = Task(description=QUESTION, expected_output="The weather.", agent=agent)
    Crew(agents=[agent], tasks=[task]).kickoff()


SCENARIOS = {
    "pydantic_ai": pydantic_ai,
    "openai_agents": openai_agents,
    "smolagents": smolagents,
    "strands": strands,
    "crewai": crewai,
}


def main() -> None:
    tests, framework = sys.argv[1], sys.argv[2]
    sys.path[:0] = [tests]
    os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
    os.environ["CREWAI_TRACING_ENABLED"] = "false"
    import infinium_otel
    from frameworks.fake_model import FakeModel
    from infinium_otel.sandbox import Sandbox

    with Sandbox(interpretation_delay=0.5) as sandbox, FakeModel() as fake:
        handle = infinium_otel.configure(
            agent_id=sandbox.agent_id,
            agent_secret=sandbox.agent_secret,
            base_url=sandbox.url,
            interpretation=False,
        )
        SCENARIOS[framework](fake.base_url)
        flushed = handle.flush(20)
        handle.shutdown(10)
        payloads: list[dict[str, Any]] = [trace.payload for trace in sandbox.traces()]
    print(json.dumps({"flushed": flushed, "payloads": payloads}))


if __name__ == "__main__":
    main()
