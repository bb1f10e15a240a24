"""LangGraph's ``create_react_agent`` over langchain-openai, with OpenInference's LangChain
instrumentor."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (extra: frameworks)")
pytest.importorskip("langchain_openai", reason="langchain-openai is not installed")
pytest.importorskip(
    "openinference.instrumentation.langchain",
    reason="openinference-instrumentation-langchain is not installed (extra: frameworks)",
)

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent
from openinference.instrumentation.langchain import LangChainInstrumentor

from exporter.support import Pipeline

from .conftest import assert_weather_run, delivered, show, tool_steps
from .fake_model import ANSWER, MODEL, QUESTION, TOOL_RESULT, FakeModel, get_weather

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

weather_tool = tool(get_weather)


@pytest.fixture
def instrumented(pipeline: Pipeline) -> Iterator[Pipeline]:
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline.provider)
    try:
        yield pipeline
    finally:
        instrumentor.uninstrument()


def invoke(fake_model: FakeModel) -> Any:
    model = ChatOpenAI(model=MODEL, base_url=fake_model.base_url, api_key="test", max_retries=0)
    agent = create_react_agent(model, [weather_tool], name="weather_agent")
    return agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})


@pytest.mark.timeout(60)
def test_one_truthful_run_per_invocation(instrumented: Pipeline, fake_model: FakeModel) -> None:
    invoke(fake_model)
    assert_weather_run(delivered(instrumented), name="weather_agent")


@pytest.mark.timeout(60)
def test_the_graph_run_has_the_question_the_answer_and_the_tool(
    instrumented: Pipeline, fake_model: FakeModel
) -> None:
    state = invoke(fake_model)

    payloads = delivered(instrumented)
    graph = [p for p in payloads if p["name"] == "weather_agent"]
    assert len(graph) == 1, show(payloads)
    payload = graph[0]
    assert payload["input_summary"] == QUESTION
    # The final answer, not the graph's serialised state.
    assert payload["output_summary"] == ANSWER == state["messages"][-1].content
    (step,) = tool_steps(payload)
    assert step["tool_call"]["input_summary"] == "Paris"
    assert step["tool_call"]["output_summary"] == TOOL_RESULT


# Under configure() (a global provider, our OpenAI instrumentor loaded beside OpenInference's
# LangChain one): run in a child process so the global provider stays out of this one.
_UNDER_CONFIGURE = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1]]
    import infinium_otel
    from infinium_otel.sandbox import Sandbox
    from frameworks.fake_model import FakeModel, QUESTION, MODEL, get_weather
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent
    from openinference.instrumentation.langchain import LangChainInstrumentor

    with Sandbox(interpretation_delay=0.5) as sandbox, FakeModel() as fake:
        handle = infinium_otel.configure(
            agent_id=sandbox.agent_id, agent_secret=sandbox.agent_secret,
            base_url=sandbox.url, interpretation=False,
        )
        LangChainInstrumentor().instrument()
        model = ChatOpenAI(model=MODEL, base_url=fake.base_url, api_key="test", max_retries=0)
        agent = create_react_agent(model, [tool(get_weather)], name="weather_agent")
        agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})
        delivered = handle.flush(20)
        handle.shutdown(10)
        print(json.dumps({"flushed": delivered, "payloads": [t.payload for t in sandbox.traces()]}))
    """
)


@pytest.mark.timeout(120)
def test_one_run_under_configure() -> None:
    tests = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_CONFIGURE, str(tests)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["flushed"]
    assert_weather_run(result["payloads"], name="weather_agent")
