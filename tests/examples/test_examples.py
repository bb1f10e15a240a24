"""The demo and every example run as a user would run them, as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(args: list[str], timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFINIUM_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.slow
def test_demo_command_prints_the_interpretation() -> None:
    result = run(["-c", "from infinium_otel.cli import main; raise SystemExit(main())", "demo"])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "infinium_otel.interpretation" in line]
    assert len(lines) == 2
    assert any("'trip-planner'" in line and "LLM calls" in line for line in lines)
    assert any("'support-desk'" in line and "1 error" in line for line in lines)
    assert "runs exported: 2, delivered: 2" in result.stdout


@pytest.mark.slow
def test_quickstart_logs_the_verdict() -> None:
    result = run([str(EXAMPLES / "quickstart.py")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "decision: reorder" in result.stdout
    assert "Maestro interpretation for agent 'restock-agent'" in result.stderr


@pytest.mark.slow
def test_plain_otel_spans_become_a_run() -> None:
    result = run([str(EXAMPLES / "plain_otel_genai.py")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "delivered=True name=billing steps=2" in result.stdout
    assert '"prompt_tokens": 310' in result.stdout


@pytest.mark.slow
def test_console_log_exporter_shows_the_record() -> None:
    result = run([str(EXAMPLES / "console_logs.py")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"event_name": "infinium.interpretation"' in result.stdout
    assert "Run 'translator'" in result.stdout


@pytest.mark.slow
def test_callback_receives_a_ready_outcome() -> None:
    result = run([str(EXAMPLES / "callback.py")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ready: trace ")
