"""The run -> bytes step on its own: convert, payload hook, encode, with counted outcomes.

No threads and no network: real runs assembled from real SDK spans go in,
a ``Delivery`` or a ``NotSent`` reason comes out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.delivery.items import Delivery, NotSent
from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.prepare import PayloadHook, RunPreparer
from infinium_otel.payload.run import Run

from .support import agent_attributes, chat_attributes


def a_run(name: str = "planner") -> Run:
    """One finished run, assembled from the spans a real provider recorded."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc-prepare"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("prepare")
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=agent_attributes(name)):
        with tracer.start_as_current_span("chat", attributes=chat_attributes()):
            pass
    provider.shutdown()
    [run] = RunAssembler().add(memory.get_finished_spans(), 0.0)
    return run


def counts_after(hook: PayloadHook | None) -> tuple[Delivery | NotSent, dict[str, int]]:
    preparer = RunPreparer(hook=hook)
    return preparer(a_run()), preparer.counts()


def test_a_run_becomes_an_encoded_payload_with_its_identity() -> None:
    run = a_run()
    prepared = RunPreparer()(run)
    assert isinstance(prepared, Delivery)
    payload = json.loads(prepared.body)
    assert payload["name"] == "planner"
    assert prepared.meta.run_name == "planner"
    assert prepared.meta.service_name == "svc-prepare"
    assert prepared.meta.otel_trace_id == run.trace_id != 0
    assert prepared.spool_key is None


def test_the_hook_sees_the_payload_and_its_answer_is_sent() -> None:
    def redact(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "description": "[redacted]"}

    prepared, counts = counts_after(redact)
    assert isinstance(prepared, Delivery)
    assert json.loads(prepared.body)["description"] == "[redacted]"
    assert counts["runs_exported"] == 1


def test_a_hook_returning_none_drops_the_run_by_choice_not_failure() -> None:
    prepared, counts = counts_after(lambda payload: None)
    assert prepared is NotSent.DROPPED_BY_HOOK
    assert not prepared.is_failure
    assert counts == {
        "runs_exported": 0,
        "runs_dropped_by_hook": 1,
        "runs_hook_failed": 0,
        "runs_failed_conversion": 0,
        "runs_unrouted": 0,
    }


def _raise(error: BaseException) -> PayloadHook:
    def hook(payload: dict[str, Any]) -> dict[str, Any]:
        raise error

    return hook


@pytest.mark.parametrize(
    "hook",
    [
        _raise(RuntimeError("redaction service down")),
        _raise(KeyboardInterrupt()),
        _raise(SystemExit(3)),
        lambda payload: [payload],  # a list, not a dict
        lambda payload: json.dumps(payload),  # a string
    ],
    ids=["raises", "keyboard-interrupt", "system-exit", "returns-list", "returns-str"],
)
def test_a_hook_that_fails_drops_the_run_and_counts_a_failure(hook: PayloadHook) -> None:
    prepared, counts = counts_after(hook)  # nothing escapes, not even a BaseException
    assert prepared is NotSent.HOOK_FAILED
    assert prepared.is_failure
    assert counts["runs_dropped_by_hook"] == 1
    assert counts["runs_hook_failed"] == 1
    assert counts["runs_exported"] == 0


def test_a_payload_too_large_to_encode_is_a_counted_conversion_failure() -> None:
    prepared, counts = counts_after(lambda payload: {**payload, "name": "n" * 5_000_000})
    assert prepared is NotSent.CONVERSION_FAILED
    assert prepared.is_failure
    assert counts["runs_failed_conversion"] == 1
    assert counts["runs_exported"] == 0
