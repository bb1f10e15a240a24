"""Our instrumentors and helpers, end to end: one agent run, three providers, one payload."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import types
from opentelemetry.sdk.trace import TracerProvider

from conversion.checks import check_payload
from fakes.fake_anthropic import FakeAnthropic
from fakes.fake_google import FakeGoogle
from fakes.fake_openai import FakeOpenAI
from infinium_otel import agent, configure, tool
from infinium_otel.instrumentation import configure_helpers, instrument_all, uninstrument_all
from infinium_otel.sandbox import Sandbox


@pytest.fixture
def providers() -> Iterator[tuple[FakeOpenAI, FakeAnthropic, FakeGoogle]]:
    with (
        FakeOpenAI(model="gpt-fake", input_tokens=11, output_tokens=7) as fake_openai,
        FakeAnthropic(model="claude-fake", input_tokens=21, output_tokens=9) as fake_anthropic,
        FakeGoogle(model="gemini-fake", input_tokens=31, output_tokens=13) as fake_google,
    ):
        yield fake_openai, fake_anthropic, fake_google


def test_agent_with_three_providers_and_a_tool_becomes_one_payload(
    sandbox: Sandbox, providers: tuple[FakeOpenAI, FakeAnthropic, FakeGoogle]
) -> None:
    fake_openai, fake_anthropic, fake_google = providers
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        base_url=sandbox.url,
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
    )
    instrumented = instrument_all(tracer_provider=provider, capture_content=True)
    try:
        assert set(instrumented) == {"openai", "anthropic", "google_genai"}
        oai = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)
        claude = anthropic.Anthropic(
            base_url=fake_anthropic.base_url, api_key="test", max_retries=0
        )
        gemini = genai.Client(
            api_key="test", http_options=types.HttpOptions(base_url=fake_google.base_url)
        )

        @tool("search")
        def search(query: str) -> list[str]:
            return [f"result for {query}"]

        with agent("researcher", expected_outcome="Answer with sources"):
            oai.chat.completions.create(
                model="gpt-fake", messages=[{"role": "user", "content": "plan"}]
            )
            search("otel genai")
            claude.messages.create(
                model="claude-fake",
                max_tokens=64,
                messages=[{"role": "user", "content": "summarise"}],
            )
            gemini.models.generate_content(model="gemini-fake", contents="check")
            oai.chat.completions.create(
                model="gpt-fake", messages=[{"role": "user", "content": "answer"}]
            )
        assert handle.flush(timeout=10)
    finally:
        uninstrument_all()
        configure_helpers(None, None)
        handle.shutdown(timeout=5)

    stored = sandbox.wait_for_traces(1, timeout=10)
    assert len(stored) == 1
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "researcher"
    actions = [step["action"] for step in payload["steps"]]
    assert actions == ["llm_call", "tool_use", "llm_call", "llm_call", "llm_call"]
    models = [step["llm_call"]["model"] for step in payload["steps"] if "llm_call" in step]
    assert models == ["gpt-fake", "claude-fake", "gemini-fake", "gpt-fake"]
    usage = payload["llm_usage"]
    assert usage["prompt_tokens"] == 11 + 21 + 31 + 11
    assert usage["completion_tokens"] == 7 + 9 + 13 + 7
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["api_calls_count"] == 4
    assert usage["model"] == "multiple"
    assert payload["steps"][1]["tool_call"]["tool_name"] == "search"
    assert payload["expected_outcome"] == {"task_objective": "Answer with sources"}
