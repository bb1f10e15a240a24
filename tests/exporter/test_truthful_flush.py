"""``flush()`` says True only when every finished run was accepted by the endpoint.

A flush reports what ended since the previous flush: a refusal it reported
does not make every later flush False. ``shutdown()`` reports the same way.

Each case goes through ``configure()`` (a real provider and batch processor)
to the sandbox with its fault injection, or to a port where nothing listens.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from infinium_otel import configure
from infinium_otel.sandbox import Fault, Sandbox

from .support import agent_attributes, chat_attributes, trace_posts


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    made = TracerProvider()
    yield made
    made.shutdown()


def settings_for(base_url: str, sandbox: Sandbox, **extra: Any) -> dict[str, Any]:
    return {
        "agent_id": sandbox.agent_id,
        "agent_secret": sandbox.agent_secret,
        "base_url": base_url,
        "timeout": 1.0,
        "max_retries": 0,
        "interpretation": False,
        "instrument": False,
        **extra,
    }


def one_run(provider: TracerProvider, name: str) -> None:
    tracer = provider.get_tracer("truthful-flush")
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=agent_attributes(name)):
        with tracer.start_as_current_span("chat", attributes=chat_attributes()):
            pass


def closed_port_url() -> str:
    """A loopback URL on a port that was just free and has nobody listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1"


def _refuse(status: int) -> Callable[[Sandbox], str]:
    def arrange(sandbox: Sandbox) -> str:
        sandbox.faults.push("trace", Fault(status=status, repeat=1_000))
        return sandbox.url

    return arrange


CASES: dict[str, Callable[[Sandbox], str]] = {
    "401": _refuse(401),
    "404": _refuse(404),
    "503 every attempt": _refuse(503),
    "nothing listening": lambda sandbox: closed_port_url(),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("arrange", CASES.values(), ids=list(CASES))
def test_flush_is_false_when_the_run_was_not_accepted(
    arrange: Callable[[Sandbox], str], sandbox: Sandbox, provider: TracerProvider
) -> None:
    handle = configure(tracer_provider=provider, **settings_for(arrange(sandbox), sandbox))
    one_run(provider, "unaccepted")
    assert handle.flush(3.0) is False
    handle.shutdown(2.0)
    assert sandbox.traces() == []
    assert handle.stats()["delivery_delivered"] == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("arrange", CASES.values(), ids=list(CASES))
def test_shutdown_without_a_flush_is_false_when_the_run_was_not_accepted(
    arrange: Callable[[Sandbox], str], sandbox: Sandbox, provider: TracerProvider
) -> None:
    handle = configure(tracer_provider=provider, **settings_for(arrange(sandbox), sandbox))
    one_run(provider, "unaccepted")
    assert handle.shutdown(3.0) is False
    assert sandbox.traces() == []


@pytest.mark.timeout(60)
def test_a_refusal_reported_by_one_flush_does_not_taint_the_next(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    sandbox.faults.push("trace", Fault(status=401))
    handle = configure(tracer_provider=provider, **settings_for(sandbox.url, sandbox))
    one_run(provider, "refused")
    assert handle.flush(5.0) is False
    one_run(provider, "accepted")
    assert handle.flush(5.0) is True
    assert [t.payload["name"] for t in sandbox.traces()] == ["accepted"]
    assert trace_posts(sandbox) == 2
    assert handle.shutdown(5.0) is True


@pytest.mark.timeout(60)
def test_a_run_the_hook_drops_by_choice_leaves_flush_true(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    handle = configure(
        tracer_provider=provider,
        payload_hook=lambda payload: None if payload["name"] == "private" else payload,
        **settings_for(sandbox.url, sandbox),
    )
    one_run(provider, "private")
    one_run(provider, "public")
    assert handle.flush(5.0) is True
    assert [t.payload["name"] for t in sandbox.traces()] == ["public"]
    assert handle.stats()["runs_dropped_by_hook"] == 1
    assert handle.stats()["runs_hook_failed"] == 0
    assert handle.shutdown(5.0) is True
