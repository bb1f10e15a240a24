"""Real openai-v2 and OpenInference instrumentations on one client call: one step, tokens once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .checks import check_payload

TESTS_DIR = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as OpenAIv2
from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInference
from fakes.fake_openai import FakeOpenAI
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
OpenAIv2().instrument(tracer_provider=provider)
OpenInference().instrument(tracer_provider=provider)
tracer = provider.get_tracer("app")
fake = FakeOpenAI(
    model="gpt-4o-mini-2024-07-18", reply="Sunny, 21 C.", input_tokens=42, output_tokens=9
)
with fake:
    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    with tracer.start_as_current_span(
        "invoke_agent weather",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather"},
    ) as root:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Weather in Paris?"}],
            temperature=0.2,
        )
spans = exporter.get_finished_spans()
root_span = next(s for s in spans if s.name == "invoke_agent weather")
payload = convert_run(Run(root_span, tuple(spans)), capture_content=sys.argv[1] == "on")
print(json.dumps({
    "scopes": sorted({s.instrumentation_scope.name for s in spans}),
    "payload": json.loads(encode_payload(payload).body),
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("capture", ["on", "off"])
def test_openai_v2_with_openinference_is_one_call(capture: str) -> None:
    env = dict(
        os.environ,
        OTEL_SEMCONV_STABILITY_OPT_IN="gen_ai_latest_experimental",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="span_only",
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, capture],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "openinference.instrumentation.openai" in result["scopes"]
    # openai-v2 with the latest conventions records through the shared GenAI helper.
    assert "opentelemetry.util.genai.handler" in result["scopes"]
    payload = check_payload(result["payload"])
    llm_steps = [s for s in payload["steps"] if s["action"] == "llm_call"]
    assert len(llm_steps) == 1, payload["steps"]
    call = llm_steps[0]["llm_call"]
    assert call["model"] == "gpt-4o-mini-2024-07-18"
    assert call["provider"] == "openai"
    assert (call["prompt_tokens"], call["completion_tokens"]) == (42, 9)
    assert call["temperature"] == 0.2
    usage = payload["llm_usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        42,
        9,
        51,
    )
    assert usage["api_calls_count"] == 1
    assert payload["environment"]["framework"] == "openai"
    assert payload["name"] == "weather"
    body = json.dumps(payload)
    if capture == "on":
        assert llm_steps[0]["input_preview"] == "Weather in Paris?"
        assert llm_steps[0]["output_preview"] == "Sunny, 21 C."
        assert payload["input_summary"] == "Weather in Paris?"
        assert payload["output_summary"] == "Sunny, 21 C."
    else:
        assert "Paris" not in body and "Sunny" not in body and "Be brief" not in body
