"""A hanging endpoint never holds the app: shutdown keeps its deadline, exit stays prompt."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from infinium_otel import configure
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Fault, Sandbox

from .support import emit_run

HANG = Fault(delay=30, repeat=50)
CLIENT_TIMEOUT = 2.0
SLACK = 1.5
RETRY_WINDOW = max(CLIENT_TIMEOUT * 4, 10.0)  # default max_retries=3


@pytest.fixture
def hanging(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.faults.push("trace", HANG)
    yield sandbox
    sandbox.faults.clear()


def test_shutdown_keeps_its_deadline_and_says_it_failed(hanging: Sandbox) -> None:
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=hanging.url,
        interpretation="off",
        timeout=30.0,
    )
    tracer = provider.get_tracer("shutdown")
    started = time.monotonic()
    for index in range(3):
        emit_run(tracer, f"stuck-{index}")
    app_time = time.monotonic() - started
    assert app_time < 2.0  # the app thread never waits for the network
    started = time.monotonic()
    delivered = handle.shutdown(timeout=2)
    took = time.monotonic() - started
    provider.shutdown()
    assert delivered is False
    assert took < 2 + SLACK, took
    stats = handle.stats()
    assert stats["delivery_delivered"] == 0
    assert stats["runs_exported"] == 3


CHILD = textwrap.dedent(
    """
    import sys, time
    from opentelemetry.sdk.trace import TracerProvider
    from infinium_otel import configure
    provider = TracerProvider()
    configure(tracer_provider=provider, instrument=False, agent_id=sys.argv[1],
              agent_secret=sys.argv[2], base_url=sys.argv[3], interpretation="off",
              timeout=float(sys.argv[4]))
    tracer = provider.get_tracer("exit")
    with tracer.start_as_current_span("invoke_agent exit",
            attributes={"gen_ai.operation.name": "invoke_agent"}):
        with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat"}):
            pass
    print("run ended", time.monotonic(), flush=True)
    """
)


@pytest.mark.slow
def test_interpreter_exit_is_not_held_up_by_a_hanging_endpoint(hanging: Sandbox) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFINIUM_", "OTEL_"))}
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            SANDBOX_AGENT_ID,
            SANDBOX_AGENT_SECRET,
            hanging.url,
            str(CLIENT_TIMEOUT),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "run ended" in result.stdout
    assert SANDBOX_AGENT_SECRET not in result.stdout + result.stderr
    # The exporter retries at most for its retry window, max(timeout x 4, 10 s), counted
    # from when the run was queued; well inside the SDK's 30 s shutdown budget.
    assert took < RETRY_WINDOW + 5, took
    assert hanging.traces() == []
