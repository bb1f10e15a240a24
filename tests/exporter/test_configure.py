"""``configure()``: provider, batch processor tuned for agent runs, flush and shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from infinium_otel import InfiniumHandle, configure
from infinium_otel.sandbox import Fault, Sandbox

from .support import agent_attributes, chat_attributes, checked_payloads, tags, trace_posts

TESTS_DIR = Path(__file__).resolve().parents[1]


def settings_for(sandbox: Sandbox, **extra: Any) -> dict[str, Any]:
    return {
        "agent_id": sandbox.agent_id,
        "agent_secret": sandbox.agent_secret,
        "base_url": sandbox.url,
        "timeout": 2.0,
        "max_retries": 0,
        "interpretation": False,
        "instrument": False,
        **extra,
    }


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    made = TracerProvider()
    yield made
    made.shutdown()


def one_run(tracer: Tracer, name: str, *, steps: int = 1) -> None:
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=agent_attributes(name)):
        for _ in range(steps):
            with tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
                pass


def test_a_run_arrives_soon_after_its_root_ends_without_flush(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    one_run(provider.get_tracer("t"), "prompt")
    ended = time.monotonic()
    sandbox.wait_for_traces(1, timeout=3.0)
    # Generous: the batch delay is 0.5 s, not the SDK's default 5 s.
    assert time.monotonic() - ended < 3.0
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "prompt"
    assert handle.shutdown(5.0) is True


def test_flush_and_shutdown_report_success(sandbox: Sandbox, provider: TracerProvider) -> None:
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    assert handle.enabled
    tracer = provider.get_tracer("t")
    for index in range(3):
        one_run(tracer, f"run-{index}")
    assert handle.flush(10.0) is True
    assert len(sandbox.traces()) == 3
    one_run(tracer, "last")
    assert handle.shutdown(10.0) is True
    assert sorted(p["name"] for p in checked_payloads(sandbox)) == [
        "last",
        "run-0",
        "run-1",
        "run-2",
    ]
    assert handle.stats()["delivery_delivered"] == 4


def test_flush_reports_false_while_the_server_answers_503(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    sandbox.faults.push("trace", Fault(status=503, repeat=1_000))
    handle = configure(tracer_provider=provider, **settings_for(sandbox, max_retries=10))
    one_run(provider.get_tracer("t"), "refused")
    started = time.monotonic()
    assert handle.flush(1.0) is False
    assert handle.shutdown(1.0) is False
    assert time.monotonic() - started < 5.0
    assert sandbox.traces() == []
    assert trace_posts(sandbox) >= 1


def test_flush_reports_false_when_the_server_is_gone(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    handle = configure(tracer_provider=provider, **settings_for(sandbox, max_retries=10))
    sandbox.stop()
    one_run(provider.get_tracer("t"), "nobody-listens")
    started = time.monotonic()
    assert handle.flush(1.0) is False
    assert handle.shutdown(1.0) is False
    assert time.monotonic() - started < 5.0


def test_configuring_twice_does_not_duplicate_exports(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    first = configure(tracer_provider=provider, **settings_for(sandbox))
    second = configure(tracer_provider=provider, **settings_for(sandbox))
    assert second is first
    one_run(provider.get_tracer("t"), "once")
    assert first.flush(10.0)
    time.sleep(0.3)  # a duplicate exporter would deliver on its own schedule
    assert [p["name"] for p in checked_payloads(sandbox)] == ["once"]
    assert trace_posts(sandbox) == 1
    assert first.shutdown(5.0)


def test_configure_uses_an_infinium_exporter_already_on_the_provider(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    """As after zero-code setup: configure() must not add a second exporter."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from infinium_otel import InfiniumSpanExporter

    credentials = settings_for(sandbox)
    for key in ("interpretation", "instrument"):
        credentials.pop(key)
    installed = InfiniumSpanExporter(interpretation=False, **credentials)
    provider.add_span_processor(BatchSpanProcessor(installed, schedule_delay_millis=100))
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    assert handle.exporter is installed
    one_run(provider.get_tracer("t"), "zero-code")
    assert handle.flush(10.0)
    time.sleep(0.3)
    assert [p["name"] for p in checked_payloads(sandbox)] == ["zero-code"]
    assert trace_posts(sandbox) == 1
    assert handle.shutdown(5.0)


def test_disabled_is_a_no_op(
    sandbox: Sandbox, provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFINIUM_DISABLED", "true")
    before = {t.ident for t in threading.enumerate()}
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    assert not handle.enabled
    assert handle.tracer_provider is None
    one_run(provider.get_tracer("t"), "ignored")
    assert handle.flush(1.0) is True
    assert handle.shutdown(1.0) is True
    assert {t.ident for t in threading.enumerate()} - before == set()
    assert sandbox.requests == []
    assert handle.stats() == {}


def test_nested_agents_are_one_run_on_a_provider_that_is_not_global(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent boss", attributes=agent_attributes("boss")):
        one_run(tracer, "helper", steps=2)
        one_run(tracer, "checker")
    assert handle.flush(10.0)
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "boss"
    assert payload["llm_usage"]["api_calls_count"] == 3
    assert handle.shutdown(5.0)


def test_flush_does_not_split_a_run_still_in_progress(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    """Another thread's flush (say, a web request ending) must leave a live run whole."""
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent long", attributes=agent_attributes("long")):
        with tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
            pass
        assert handle.flush(5.0) is True
        with tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
            pass
    assert handle.flush(5.0) is True
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "long"
    assert payload["llm_usage"]["api_calls_count"] == 2
    assert "partial" not in tags(payload)
    assert handle.stats()["late_spans"] == 0
    assert handle.shutdown(5.0)


SUBPROCESS_SCRIPT = r"""
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import infinium_otel

mode = sys.argv[1]
memory = InMemorySpanExporter()
if mode == "join":
    mine = TracerProvider()
    mine.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(mine)
handle = infinium_otel.configure(instrument=False, interpretation=False)
tracer = trace.get_tracer("script")
with infinium_otel.agent("outer"):
    with infinium_otel.agent("inner"):
        with tracer.start_as_current_span(
            "chat gpt-sub",
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-sub"},
        ):
            pass
print(json.dumps({
    "global_is_handles": trace.get_tracer_provider() is handle.tracer_provider,
    "joined": mode == "join" and handle.tracer_provider is mine,
    "other_exporter_spans": len(memory.get_finished_spans()),
    "shutdown": handle.shutdown(10.0),
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["create", "join"])
def test_creates_or_joins_the_global_provider(sandbox: Sandbox, mode: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFINIUM_"))}
    env.update(
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
    )
    result = subprocess.run(
        [sys.executable, "-c", SUBPROCESS_SCRIPT, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=TESTS_DIR,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["global_is_handles"] is True
    assert report["shutdown"] is True
    if mode == "join":
        assert report["joined"] is True
        assert report["other_exporter_spans"] == 3
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "outer"
    assert [s["description"] for s in payload["steps"]] == ["agent inner", "chat gpt-sub"]


def test_handle_repr_names_no_secret(sandbox: Sandbox, provider: TracerProvider) -> None:
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    assert isinstance(handle, InfiniumHandle)
    shown = repr(handle) + repr(handle.exporter) + repr(handle.settings)
    assert sandbox.agent_secret not in shown
    assert handle.shutdown(5.0)


def test_one_processor_runs_the_batch_and_the_nesting_tracker(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    from infinium_otel.export.nesting import attach_tracker

    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    assert handle.exporter is not None
    tracker = handle.exporter.nesting_tracker
    processors = provider._active_span_processor._span_processors
    assert len(processors) == 1 and tracker.attached
    assert attach_tracker(provider)  # asked again (as zero-code setup would): still one
    assert provider._active_span_processor._span_processors == processors
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent outer", attributes=agent_attributes("outer")):
        with tracer.start_as_current_span("invoke_agent inner", attributes=agent_attributes("in")):
            assert tracker.live_spans == 2  # each start seen once
    assert handle.flush(10)
    assert tracker.live_spans == 0  # each end seen once the exporter received the span
    assert trace_posts(sandbox) == 1  # the sub-agent went out inside the outer run
    (payload,) = checked_payloads(sandbox)
    assert payload["name"] == "outer" and len(payload["steps"]) == 1
    handle.shutdown(10)
