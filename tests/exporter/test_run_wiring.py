"""Runs reach the sandbox whole however the exporter is wired: real SDK, real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import Span, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from infinium_otel.export.nesting import attach_tracker
from infinium_otel.sandbox import Sandbox

from .support import (
    Pipeline,
    agent_attributes,
    chat_attributes,
    checked_payloads,
    exporter_for,
    step_names,
    tool_attributes,
)


def emit_nested(tracer: Tracer) -> None:
    """A request handler running an agent that calls a sub-agent that calls a model."""
    with tracer.start_as_current_span("GET /plan"):
        with tracer.start_as_current_span(
            "invoke_agent outer", attributes=agent_attributes("outer")
        ):
            with tracer.start_as_current_span("plan step"):
                with tracer.start_as_current_span(
                    "invoke_agent inner", attributes=agent_attributes("inner")
                ):
                    with tracer.start_as_current_span(
                        "chat gpt-test", attributes=chat_attributes()
                    ):
                        pass
            with tracer.start_as_current_span(
                "execute_tool search", attributes=tool_attributes("search")
            ):
                pass


def assert_one_nested_run(sandbox: Sandbox) -> None:
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "outer"
    assert step_names(payload) == ["plan step", "agent inner", "chat gpt-test", "tool search"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("batch", [True, False], ids=["batch", "simple"])
def test_no_tracker_and_no_global_provider_keep_sub_agents_inside(
    sandbox: Sandbox, batch: bool
) -> None:
    exporter = exporter_for(sandbox)
    provider = TracerProvider()  # never made global, and no attach_tracker call
    processor: SpanProcessor = (
        BatchSpanProcessor(exporter, schedule_delay_millis=50)
        if batch
        else SimpleSpanProcessor(exporter)
    )
    provider.add_span_processor(processor)
    emit_nested(provider.get_tracer("tests"))
    assert processor.force_flush(10_000) and exporter.force_flush(10_000)
    assert_one_nested_run(sandbox)
    assert exporter.stats()["spans_buffered"] == 0
    assert not exporter.nesting_tracker.attached
    provider.shutdown()


@pytest.mark.timeout(60)
def test_two_exporters_on_one_provider_each_send_one_run(sandbox: Sandbox) -> None:
    other = Sandbox()
    other.start()
    try:
        first, second = exporter_for(sandbox), exporter_for(other)
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(first))
        provider.add_span_processor(SimpleSpanProcessor(second))
        assert attach_tracker(provider)  # both exporters' trackers
        assert first.nesting_tracker.attached and second.nesting_tracker.attached
        emit_nested(provider.get_tracer("tests"))
        assert first.force_flush(10_000) and second.force_flush(10_000)
        assert_one_nested_run(sandbox)
        assert_one_nested_run(other)
        provider.shutdown()
    finally:
        other.close()


@pytest.mark.timeout(60)
def test_agent_kinds_set_at_span_end_make_one_run(sandbox: Sandbox) -> None:
    """OpenInference's LangChain tracer sets the kind at span end and never makes spans current."""
    pipeline = Pipeline(sandbox)
    tracer = pipeline.tracer

    def start(name: str, parent: Span | None) -> Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(name, context=context)
        assert isinstance(span, Span)
        return span

    def finish(span: Span, **attributes: Any) -> None:
        span.set_attributes(attributes)
        span.end()

    graph = start("research_agent", None)
    for _ in range(2):
        node = start("agent", graph)
        finish(
            start("ChatOpenAI", node),
            **{"openinference.span.kind": "LLM", "llm.model_name": "gpt-test"},
            **{"llm.token_count.prompt": 7, "llm.token_count.completion": 3},
        )
        finish(node, **{"openinference.span.kind": "AGENT"})
        tools = start("tools", graph)
        finish(start("search", tools), **{"openinference.span.kind": "TOOL", "tool.name": "search"})
        finish(tools, **{"openinference.span.kind": "CHAIN"})
        assert pipeline.flush()
        assert checked_payloads(sandbox) == []  # the graph is still open
    finish(graph, **{"openinference.span.kind": "AGENT"})
    assert pipeline.flush()
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "research_agent"
    assert payload["llm_usage"]["api_calls_count"] == 2
    assert payload["llm_usage"]["prompt_tokens"] == 14
    assert [s["action"] for s in payload["steps"]].count("agent") == 2
    pipeline.close()


@pytest.mark.timeout(60)
def test_a_duplicate_batch_after_the_run_left_sends_nothing_more(sandbox: Sandbox) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    emit_nested(provider.get_tracer("tests"))
    batch = memory.get_finished_spans()
    exporter = exporter_for(sandbox)
    exporter.export(batch)
    assert exporter.force_flush(10_000)
    exporter.export(batch)  # a retrying processor or a gateway sending the batch again
    assert exporter.force_flush(10_000)
    assert_one_nested_run(sandbox)
    stats = exporter.stats()
    # The request span was never part of a run: dropped again, as the first time.
    assert stats["spans_duplicate"] == len(batch) - 1
    assert stats["spans_dropped_no_genai"] == 2
    assert stats["runs_exported"] == 1 and stats["late_spans"] == 0
    exporter.shutdown()
    provider.shutdown()


@pytest.mark.timeout(60)
def test_a_lone_llm_call_is_a_one_step_run(sandbox: Sandbox) -> None:
    pipeline = Pipeline(sandbox, batch=False)
    with pipeline.tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
        pass
    assert pipeline.flush()
    [payload] = checked_payloads(sandbox)
    assert [s["action"] for s in payload["steps"]] == ["llm_call"]
    assert payload["llm_usage"]["prompt_tokens"] == 10
    assert "Run run" not in payload["description"]
    assert payload["description"].startswith("Run 'chat gpt-test': 1 step, 1 LLM call")
    pipeline.close()


LATE_PROVIDER_SCRIPT = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from infinium_otel import InfiniumSpanExporter

exporter = InfiniumSpanExporter(interpretation=False)  # built before any SDK provider is set
provider = TracerProvider()
processor = BatchSpanProcessor(exporter, schedule_delay_millis=50)
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("late")
AGENT = {"gen_ai.operation.name": "invoke_agent"}
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-late"}
OUTER = {**AGENT, "gen_ai.agent.name": "outer"}
INNER = {**AGENT, "gen_ai.agent.name": "inner"}
with tracer.start_as_current_span("GET /plan"):
    with tracer.start_as_current_span("outer", attributes=OUTER):
        with tracer.start_as_current_span("inner", attributes=INNER):
            with tracer.start_as_current_span("chat", attributes=CHAT):
                pass
processor.force_flush()
flushed = exporter.force_flush(10_000)
print(json.dumps({"flushed": flushed, "attached": exporter.nesting_tracker.attached,
                  "shutdown": exporter.shutdown_report(10.0)}))
"""


@pytest.mark.timeout(90)
def test_an_exporter_built_before_the_global_provider_keeps_the_first_run_whole(
    sandbox: Sandbox,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFINIUM_"))}
    env.update(
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
    )
    result = subprocess.run(
        [sys.executable, "-c", LATE_PROVIDER_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    # The first export found the global provider feeding the exporter and attached its
    # tracker; the first run, which the tracker never saw start, is still whole.
    assert outcome == {"flushed": True, "attached": True, "shutdown": True}
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "outer"
    assert step_names(payload) == ["agent inner", "chat gpt-late"]


TRACKER_SCRIPT = """
from opentelemetry import trace

provider = trace.get_tracer_provider()
exporters = [
    processor.span_exporter
    for processor in provider._active_span_processor._span_processors
    if hasattr(getattr(processor, "span_exporter", None), "nesting_tracker")
]
print([exporter.nesting_tracker.attached for exporter in exporters])
"""


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_our_configurator_attaches_the_exporters_tracker(tmp_path: Path, sandbox: Sandbox) -> None:
    from .test_zero_code import instrument_command

    script = tmp_path / "probe.py"
    script.write_text(TRACKER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFINIUM_"))}
    env.update(
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
        INFINIUM_INTERPRETATION="off",
        OTEL_PYTHON_CONFIGURATOR="infinium",
    )
    result = subprocess.run(
        [*instrument_command(), str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[True]"


@pytest.mark.timeout(60)
def test_configure_attaches_the_tracker_so_a_run_under_a_live_span_goes_out_at_once(
    sandbox: Sandbox,
) -> None:
    from infinium_otel import configure

    provider = TracerProvider()  # not global
    handle = configure(
        tracer_provider=provider,
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
        base_url=sandbox.url,
        max_retries=0,
        interpretation=False,
        instrument=False,
    )
    assert handle.exporter is not None and handle.exporter.nesting_tracker.attached
    tracer = provider.get_tracer("tests")
    worker = tracer.start_span("worker loop")  # stays open while the run is sent
    with trace.use_span(worker, end_on_exit=False):
        with tracer.start_as_current_span(
            "invoke_agent planner", attributes=agent_attributes("planner")
        ):
            with tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
                pass
    assert handle.flush(10.0)
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "planner"
    assert handle.exporter.stats()["spans_buffered"] == 0
    worker.end()
    assert handle.shutdown(10.0)
    provider.shutdown()


@pytest.mark.timeout(60)
def test_a_run_under_a_span_that_never_ends_goes_out_after_the_grace(sandbox: Sandbox) -> None:
    """No tracker, no further spans: the delivery thread's ticks release the held run."""
    exporter = exporter_for(sandbox)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    worker = tracer.start_span("worker loop")
    with trace.use_span(worker, end_on_exit=False):
        with tracer.start_as_current_span("invoke_agent solo", attributes=agent_attributes("solo")):
            with tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
                pass
    assert sandbox.traces() == []  # held: it might still be a sub-agent
    sandbox.wait_for_traces(1, timeout=30.0)
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "solo"
    assert step_names(payload) == ["chat gpt-test"]
    assert "partial" not in payload["environment"]["custom_tags"]
    worker.end()
    assert exporter.force_flush(10_000)
    assert len(checked_payloads(sandbox)) == 1
    provider.shutdown()
