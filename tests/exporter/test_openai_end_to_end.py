"""Real peers end to end: the ``openai`` client against a loopback fake, instrumented by
the official OpenTelemetry GenAI instrumentation, by OpenInference, or by both at once,
inside our ``agent()`` span; the sandbox must receive one right payload per run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fakes.fake_openai import FakeOpenAI
from infinium_otel import agent, tool
from infinium_otel.instrumentation.helpers import configure_helpers
from infinium_otel.sandbox import Sandbox

from .support import Pipeline, checked_payloads

MODEL = "gpt-4o-mini-fake"
PROMPTS = ("Where is my parcel 123?", "Thanks, and when will it arrive?")
REPLY = "Your parcel is in Lyon and arrives Tuesday."
TOKENS_IN, TOKENS_OUT = 11, 7

SETUPS = {
    "openai-v2": ("openai-v2",),
    "openinference": ("openinference",),
    # wrapt: the instrumentation applied last wraps outermost.
    "both, openai-v2 outermost": ("openinference", "openai-v2"),
    "both, openinference outermost": ("openai-v2", "openinference"),
}


def make_instrumentor(name: str) -> Any:
    if name == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        return OpenAIInstrumentor()
    from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInference

    return OpenInference()


@pytest.fixture
def genai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Read by openai-v2 when it instruments: set before, as a user would.
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(
        model=MODEL, reply=REPLY, input_tokens=TOKENS_IN, output_tokens=TOKENS_OUT
    ) as server:
        yield server


class Instrumented:
    """A pipeline to the sandbox, an in-memory copy of every span, instrumentors applied."""

    def __init__(self, sandbox: Sandbox, names: tuple[str, ...]) -> None:
        self.pipeline = Pipeline(sandbox)
        self.memory = InMemorySpanExporter()
        self.pipeline.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.instrumentors = [make_instrumentor(name) for name in names]
        for instrumentor in self.instrumentors:
            instrumentor.instrument(tracer_provider=self.pipeline.provider)
        configure_helpers(tracer_provider=self.pipeline.provider, capture_content=True)

    def close(self) -> None:
        configure_helpers()
        for instrumentor in reversed(self.instrumentors):
            instrumentor.uninstrument()
        self.pipeline.close()

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())


@pytest.fixture(params=list(SETUPS))
def instrumented(
    request: pytest.FixtureRequest, sandbox: Sandbox, genai_env: None
) -> Iterator[Instrumented]:
    made = Instrumented(sandbox, SETUPS[request.param])
    yield made
    made.close()


def support_run(client: openai.OpenAI, name: str) -> None:
    with agent(name, description=f"{name} answers a parcel question"):
        for prompt in PROMPTS:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}], temperature=0.2
            )
        with tool("track_parcel") as span:
            span.set_attribute("infinium.output_summary", "in Lyon")


def llm_spans(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [
        s
        for s in spans
        if (s.attributes or {}).get("gen_ai.operation.name") == "chat"
        or (s.attributes or {}).get("openinference.span.kind") == "LLM"
    ]


def test_one_payload_per_run_with_the_right_model_tokens_and_steps(
    instrumented: Instrumented, fake: FakeOpenAI, sandbox: Sandbox
) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
    for name in ("parcel-bot-1", "parcel-bot-2"):
        support_run(client, name)
    assert instrumented.pipeline.flush()
    client.close()

    made = llm_spans(instrumented.spans())
    assert len(made) == 2 * 2 * len(instrumented.instrumentors)  # the peers did record
    payloads = checked_payloads(sandbox)
    assert [p["name"] for p in payloads] == ["parcel-bot-1", "parcel-bot-2"]
    for payload in payloads:
        usage = payload["llm_usage"]
        # Each call counts once, even when two instrumentations recorded it.
        assert usage["api_calls_count"] == 2
        assert usage["prompt_tokens"] == 2 * TOKENS_IN
        assert usage["completion_tokens"] == 2 * TOKENS_OUT
        assert usage["total_tokens"] == 2 * (TOKENS_IN + TOKENS_OUT)
        assert usage["model"] == MODEL
        assert usage["provider"] == "openai"
        assert len(usage["calls"]) == 2
        actions = [step["action"] for step in payload["steps"]]
        assert actions == ["llm_call", "llm_call", "tool_use"]
        for step in payload["steps"][:2]:
            assert step["llm_call"]["model"] == MODEL
            assert step["llm_call"]["prompt_tokens"] == TOKENS_IN
        assert payload["steps"][2]["tool_call"]["tool_name"] == "track_parcel"
        assert payload["description"].endswith("answers a parcel question")
        assert PROMPTS[0] in payload["input_summary"]
        assert REPLY in payload["output_summary"]
        assert PROMPTS[1] in payload["steps"][1]["input_preview"]


def test_both_instrumentations_nest_one_span_inside_the_other(
    sandbox: Sandbox, fake: FakeOpenAI, genai_env: None
) -> None:
    """The shape the exporter has to see through: a chat span holding a ChatCompletion."""
    made = Instrumented(sandbox, SETUPS["both, openai-v2 outermost"])
    try:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test-key", max_retries=0)
        support_run(client, "nested-shape")
        assert made.pipeline.flush()
        client.close()
        spans = {s.context.span_id: s for s in made.spans()}
        chats = [s for s in spans.values() if s.name == f"chat {MODEL}"]
        inner = [s for s in spans.values() if s.name == "ChatCompletion"]
        assert len(chats) == len(inner) == 2
        for span in inner:
            assert span.parent is not None
            assert spans[span.parent.span_id].name == f"chat {MODEL}"
        [payload] = checked_payloads(sandbox)
        assert payload["llm_usage"]["api_calls_count"] == 2
        assert payload["llm_usage"]["prompt_tokens"] == 2 * TOKENS_IN
    finally:
        made.close()
