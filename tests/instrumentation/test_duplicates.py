"""One LLM span per call when the official openai-v2 instrumentation is also active."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as Official
from fakes.fake_openai import FakeOpenAI
from infinium_otel.instrumentation.openai import OpenAIInstrumentor as Ours
from openai.resources.chat.completions import Completions

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
original = Completions.__dict__["create"]
order = [Official(), Ours()] if sys.argv[1] == "official-first" else [Ours(), Official()]
for instrumentor in order:
    instrumentor.instrument(tracer_provider=provider)
with FakeOpenAI(model="gpt-dup") as fake:
    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-dup", messages=[{"role": "user", "content": "hi"}])
    stream = client.chat.completions.create(
        model="gpt-dup", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        pass
spans = [
    {"name": s.name, "scope": s.instrumentation_scope.name,
     "op": (s.attributes or {}).get("gen_ai.operation.name"),
     "content": "gen_ai.input.messages" in (s.attributes or {})}
    for s in exporter.get_finished_spans()
]
for instrumentor in (order if sys.argv[2] == "same" else reversed(order)):
    instrumentor.uninstrument()
print(json.dumps({"spans": spans, "restored": Completions.__dict__["create"] is original}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("undo", ["same", "reverse"])
@pytest.mark.parametrize("order", ["official-first", "ours-first"])
def test_one_llm_span_with_openai_v2(order: str, undo: str) -> None:
    env = dict(
        os.environ,
        OTEL_SEMCONV_STABILITY_OPT_IN="gen_ai_latest_experimental",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="span_only",
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, order, undo],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    llm_spans = [s for s in result["spans"] if s["op"] == "chat"]
    assert len(llm_spans) == 2, result  # one per call: the plain call and the stream
    assert len({s["scope"] for s in llm_spans}) == 1
    assert all(s["content"] for s in llm_spans)
    assert result["restored"] is True
