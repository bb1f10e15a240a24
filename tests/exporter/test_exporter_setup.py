"""Construction: settings from the environment, overrides, the entry point, other exporters."""

from __future__ import annotations

import threading
from importlib.metadata import entry_points

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.errors import ConfigurationError
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.nesting import attach_tracker
from infinium_otel.sandbox import Sandbox

from .support import Pipeline, agent_attributes, chat_attributes, checked_payloads, trace_posts

ENV_NAMES = (
    "INFINIUM_AGENT_ID",
    "INFINIUM_AGENT_SECRET",
    "INFINIUM_BASE_URL",
    "INFINIUM_TIMEOUT",
    "INFINIUM_MAX_RETRIES",
    "INFINIUM_INTERPRETATION",
    "INFINIUM_CAPTURE_CONTENT",
    "INFINIUM_DISABLED",
    "INFINIUM_RUN_TTL",
    "INFINIUM_MAX_SPANS_PER_RUN",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def sandbox_env(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    monkeypatch.setenv("INFINIUM_AGENT_ID", sandbox.agent_id)
    monkeypatch.setenv("INFINIUM_AGENT_SECRET", sandbox.agent_secret)
    monkeypatch.setenv("INFINIUM_BASE_URL", sandbox.url)


def run_one_agent(exporter: InfiniumSpanExporter, name: str = "env-agent") -> None:
    provider = TracerProvider()
    attach_tracker(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=agent_attributes(name)):
        with tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
            pass
    assert exporter.force_flush(10_000)
    provider.shutdown()


def test_no_arguments_reads_the_environment(
    clean_env: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    sandbox_env(clean_env, sandbox)
    clean_env.setenv("INFINIUM_TIMEOUT", "7.5")
    clean_env.setenv("INFINIUM_RUN_TTL", "42")
    exporter = InfiniumSpanExporter()
    assert exporter.settings.agent_id == sandbox.agent_id
    assert exporter.settings.base_url == sandbox.url
    assert exporter.settings.timeout == 7.5
    assert exporter.settings.run_ttl == 42.0
    run_one_agent(exporter)
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "env-agent"


def test_keyword_arguments_override_the_environment(
    clean_env: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    clean_env.setenv("INFINIUM_AGENT_ID", "11111111-1111-4111-8111-111111111111")
    clean_env.setenv("INFINIUM_AGENT_SECRET", "wrong-secret-value")
    clean_env.setenv("INFINIUM_BASE_URL", "http://127.0.0.1:9/api/v1")
    clean_env.setenv("INFINIUM_CAPTURE_CONTENT", "true")
    exporter = InfiniumSpanExporter(
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
        base_url=sandbox.url,
        capture_content=False,
        interpretation=False,
    )
    assert exporter.settings.capture_content is False
    run_one_agent(exporter, "override-agent")
    assert [p["name"] for p in checked_payloads(sandbox)] == ["override-agent"]


def test_a_bad_environment_value_fails_at_construction_naming_it(
    clean_env: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    sandbox_env(clean_env, sandbox)
    clean_env.setenv("INFINIUM_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError) as caught:
        InfiniumSpanExporter()
    assert caught.value.config_key == "INFINIUM_TIMEOUT"


def test_missing_credentials_fail_at_construction(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        InfiniumSpanExporter()
    assert caught.value.config_key == "INFINIUM_AGENT_ID"


def test_registered_as_the_infinium_traces_exporter() -> None:
    found = entry_points(group="opentelemetry_traces_exporter", name="infinium")
    assert len(found) == 1
    loaded = next(iter(found)).load()
    # The entry point names the exporter that, built from the environment alone,
    # switches itself off on a bad value instead of raising into the SDK's setup.
    assert issubclass(loaded, InfiniumSpanExporter)
    assert loaded.__name__ == "EnvironmentInfiniumSpanExporter"


def test_registered_as_the_infinium_configurator() -> None:
    from infinium_otel.autoconfigure import InfiniumConfigurator

    found = entry_points(group="opentelemetry_configurator", name="infinium")
    assert next(iter(found)).load() is InfiniumConfigurator


def test_disabled_is_a_no_op_without_thread_or_request(
    clean_env: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    sandbox_env(clean_env, sandbox)
    clean_env.setenv("INFINIUM_DISABLED", "true")
    before = {t.name for t in threading.enumerate()}
    exporter = InfiniumSpanExporter()
    run_one_agent(exporter)
    exporter.shutdown()
    started = {t.name for t in threading.enumerate()} - before
    assert not any(name.startswith("infinium") for name in started), started
    assert trace_posts(sandbox) == 0
    assert sandbox.traces() == []


def test_disabled_needs_no_credentials(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("INFINIUM_DISABLED", "1")
    exporter = InfiniumSpanExporter()
    assert exporter.force_flush(1000) is True


def test_works_beside_another_exporter_on_the_same_provider(sandbox: Sandbox) -> None:
    pipeline = Pipeline(sandbox)
    memory = InMemorySpanExporter()
    pipeline.provider.add_span_processor(BatchSpanProcessor(memory, schedule_delay_millis=50))
    with pipeline.tracer.start_as_current_span(
        "invoke_agent beside", attributes=agent_attributes("beside")
    ):
        with pipeline.tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
            pass
    with pipeline.tracer.start_as_current_span("GET /health"):
        pass
    assert pipeline.flush()
    pipeline.provider.force_flush()
    # The other exporter sees every span; ours sends only the agent run.
    assert sorted(s.name for s in memory.get_finished_spans()) == [
        "GET /health",
        "chat gpt-test",
        "invoke_agent beside",
    ]
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "beside"
    assert payload["llm_usage"]["api_calls_count"] == 1
    pipeline.close()


def test_works_beside_the_otlp_http_exporter(sandbox: Sandbox) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from .sinks import OtlpSink

    with OtlpSink() as sink:
        pipeline = Pipeline(sandbox)
        otlp = OTLPSpanExporter(endpoint=sink.url, timeout=5)
        pipeline.provider.add_span_processor(BatchSpanProcessor(otlp, schedule_delay_millis=50))
        for index in range(3):
            name = f"otlp-{index}"
            with pipeline.tracer.start_as_current_span(name, attributes=agent_attributes(name)):
                with pipeline.tracer.start_as_current_span("chat", attributes=chat_attributes()):
                    pass
        assert pipeline.flush()
        pipeline.provider.force_flush()
        assert sink.spans_received() == 6
        assert sorted(p["name"] for p in checked_payloads(sandbox)) == [
            "otlp-0",
            "otlp-1",
            "otlp-2",
        ]
        pipeline.close()


LATE_PROVIDER_SCRIPT = r"""
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from infinium_otel import InfiniumSpanExporter, agent

exporter = InfiniumSpanExporter(interpretation=False)  # built before any SDK provider is set
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("late")
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-late"}
with agent("warm-up"):
    with tracer.start_as_current_span("chat", attributes=CHAT):
        pass
with agent("outer"):
    with agent("inner"):
        with tracer.start_as_current_span("chat", attributes=CHAT):
            pass
print(json.dumps({"shutdown": exporter.shutdown_report(10.0)}))
"""


@pytest.mark.slow
def test_an_exporter_built_before_the_global_provider_still_sees_nesting(
    sandbox: Sandbox,
) -> None:
    import json
    import os
    import subprocess
    import sys

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
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"shutdown": True}
    # The first export attached the nesting tracker: from then on sub-agents stay inside.
    assert [p["name"] for p in checked_payloads(sandbox)] == ["warm-up", "outer"]


def test_nesting_holds_when_the_tracker_runs_after_a_synchronous_exporter(
    sandbox: Sandbox,
) -> None:
    from .support import exporter_for

    exporter = exporter_for(sandbox)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attach_tracker(provider)  # after: the exporter sees each span before the tracker does
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent outer", attributes=agent_attributes("outer")):
        with tracer.start_as_current_span(
            "invoke_agent inner", attributes=agent_attributes("inner")
        ):
            with tracer.start_as_current_span("chat", attributes=chat_attributes()):
                pass
    assert exporter.force_flush(10_000)
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "outer"
    assert [s["description"] for s in payload["steps"]] == ["agent inner", "chat gpt-test"]
    provider.shutdown()
