"""Short scripts: what they hear at exit about interpretations still pending.

Each test runs a real script in a subprocess against a sandbox in this process;
the sandbox grades runs only after several seconds, so the script ends first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from infinium_otel.sandbox import Sandbox

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"

# Delivers one run with the client, hands it to a processor, and ends.
DIRECT = textwrap.dedent(
    """
    import logging, os, random, sys
    from infinium_otel.client.sync_client import InfiniumClient
    from infinium_otel.interpretation import InterpretationProcessor, InterpretationRequest

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    client = InfiniumClient(timeout=5.0, max_retries=0)
    sent = client.send_task_data({
        "name": "nightly-report", "description": "d",
        "current_datetime": "2026-01-01T00:00:00.000Z", "duration": 1.0,
    })
    assert sent.success, sent
    processor = InterpretationProcessor(
        client=client, sinks=["log"], poll_interval=1.0, poll_timeout=60.0,
        wait_at_exit=float(os.environ["TEST_WAIT_AT_EXIT"]),
        history=os.environ.get("TEST_HISTORY") or None,
    )
    processor.submit(InterpretationRequest(
        infinium_trace_id=sent.trace_id, otel_trace_id=random.getrandbits(128) | 1,
        otel_span_id=random.getrandbits(64) | 1, agent_name="nightly-report",
    ))
    if os.environ.get("TEST_SHUTDOWN"):
        processor.shutdown()
    print("script done", flush=True)
    """
)

# The same through configure() and an agent span, without flush or shutdown:
# the run is delivered only by the tracer provider's own exit hook.
CONFIGURED = textwrap.dedent(
    """
    import logging, os, sys
    import infinium_otel
    from infinium_otel import agent, tool
    from infinium_otel.interpretation import InterpretationProcessor

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    processor = InterpretationProcessor(
        sinks=["log"], poll_interval=1.0, poll_timeout=60.0,
        wait_at_exit=float(os.environ["TEST_WAIT_AT_EXIT"]),
    )
    infinium_otel.configure(interpretation=processor, instrument=False)

    @tool("lookup")
    def lookup() -> str:
        return "found"

    with agent("exit-bot"):
        lookup()
    print("script done", flush=True)
    """
)


# configure() builds the processor itself, after the tracer provider: its exit
# hook runs first, before the provider's hook delivers the run.
CONFIGURED_DEFAULT = textwrap.dedent(
    """
    import logging, sys
    import infinium_otel
    from infinium_otel import agent, tool

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    infinium_otel.configure(interpretation=True, instrument=False, poll_interval=1.0)

    @tool("lookup")
    def lookup() -> str:
        return "found"

    with agent("default-bot"):
        lookup()
    print("script done", flush=True)
    """
)


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(interpretation_delay=4.0) as sandbox:
        yield sandbox


def run_script(
    script: str,
    sandbox: Sandbox,
    *,
    wait: float,
    history: Path | None = None,
    shutdown: bool = False,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFINIUM_", "OTEL_"))}
    env.update(
        PYTHONPATH=str(SRC),
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
        TEST_WAIT_AT_EXIT=str(wait),
        TEST_HISTORY=str(history) if history else "",
        TEST_SHUTDOWN="1" if shutdown else "",
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pending_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "before the program exited" in line]


@pytest.mark.timeout(90)
def test_a_script_that_ends_first_says_so_in_one_line(slow_sandbox: Sandbox) -> None:
    result = run_script(DIRECT, slow_sandbox, wait=0)
    assert result.returncode == 0, result.stderr
    assert "script done" in result.stdout
    (line,) = pending_lines(result.stderr)
    assert "1 run's interpretation has not arrived before the program exited" in line
    assert "Infinium dashboard" in line  # no history kept: says where else to look
    assert "Maestro interpretation for" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(90)
def test_with_history_the_line_points_to_the_results_command(
    slow_sandbox: Sandbox, tmp_path: Path
) -> None:
    history = tmp_path / "history.jsonl"
    result = run_script(DIRECT, slow_sandbox, wait=0, history=history)
    (line,) = pending_lines(result.stderr)
    assert "see the verdicts later with `infinium-otel results`" in line
    assert history.exists()


@pytest.mark.timeout(90)
def test_runs_abandoned_by_an_explicit_shutdown_are_reported_at_exit(
    slow_sandbox: Sandbox,
) -> None:
    result = run_script(DIRECT, slow_sandbox, wait=30, shutdown=True)
    assert result.returncode == 0, result.stderr
    (line,) = pending_lines(result.stderr)
    assert "1 run's interpretation has not arrived before the program exited" in line
    assert "waiting" not in line  # a stopped processor has nothing left to wait for


@pytest.mark.timeout(90)
def test_waiting_at_exit_prints_the_verdict_instead(slow_sandbox: Sandbox) -> None:
    result = run_script(DIRECT, slow_sandbox, wait=30)
    assert result.returncode == 0, result.stderr
    assert "Maestro interpretation for agent 'nightly-report'" in result.stderr
    assert "Run 'nightly-report' took" in result.stderr
    assert pending_lines(result.stderr) == []


@pytest.mark.timeout(90)
def test_the_wait_at_exit_is_bounded(slow_sandbox: Sandbox) -> None:
    slow_sandbox.interpretation_delay = 300
    result = run_script(DIRECT, slow_sandbox, wait=1.5)
    assert result.returncode == 0, result.stderr
    (line,) = pending_lines(result.stderr)
    assert "after waiting 1.5 s" in line
    assert "Maestro interpretation for" not in result.stderr


@pytest.mark.timeout(90)
def test_a_run_delivered_by_the_providers_exit_hook_is_reported(slow_sandbox: Sandbox) -> None:
    result = run_script(CONFIGURED, slow_sandbox, wait=0)
    assert result.returncode == 0, result.stderr
    assert slow_sandbox.wait_for_traces(1, timeout=5)[0].payload["name"] == "exit-bot"
    (line,) = pending_lines(result.stderr)
    assert "1 run's interpretation has not arrived" in line


@pytest.mark.timeout(90)
def test_a_run_delivered_at_exit_is_waited_for(slow_sandbox: Sandbox) -> None:
    result = run_script(CONFIGURED, slow_sandbox, wait=30)
    assert result.returncode == 0, result.stderr
    assert "Maestro interpretation for agent 'exit-bot'" in result.stderr
    assert pending_lines(result.stderr) == []


@pytest.mark.timeout(90)
def test_the_line_comes_whichever_exit_hook_runs_first(slow_sandbox: Sandbox) -> None:
    result = run_script(CONFIGURED_DEFAULT, slow_sandbox, wait=0)
    assert result.returncode == 0, result.stderr
    assert slow_sandbox.wait_for_traces(1, timeout=5)[0].payload["name"] == "default-bot"
    (line,) = pending_lines(result.stderr)
    assert "1 run's interpretation has not arrived" in line
