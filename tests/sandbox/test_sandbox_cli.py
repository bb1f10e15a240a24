"""The command line: ``python -m infinium_otel.sandbox`` as a real subprocess."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from infinium_otel.cli.sandbox import main
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET

from .support import MINIMAL_PAYLOAD

pytestmark = pytest.mark.slow


class Running:
    """A sandbox subprocess whose stdout is read line by line on a helper thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infinium_otel.sandbox", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def settings(self, timeout: float = 20.0) -> dict[str, str]:
        """Read until the credential lines are printed; return them as a dict."""
        found: dict[str, str] = {}
        while "INFINIUM_AGENT_SECRET" not in found:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if line.startswith("INFINIUM_") and "=" in line:
                key, value = line.split("=", 1)
                found[key] = value
        return found

    def rest_of_output(self) -> list[str]:
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get_nowait())
        return lines

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def run_cli(tmp_path: Path) -> Iterator[type[Running]]:
    started: list[Running] = []

    class Tracked(Running):
        def __init__(self, args: list[str], cwd: Path = tmp_path) -> None:
            super().__init__(args, cwd)
            started.append(self)

    yield Tracked
    for running in started:
        running.kill()
        for pipe in (running.process.stdout, running.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_cli_prints_settings_serves_and_exits_cleanly(
    run_cli: type[Running], stop_signal: signal.Signals
) -> None:
    running = run_cli(["--port", "0", "--delay", "0"])
    settings = running.settings()
    base_url = settings["INFINIUM_BASE_URL"]
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
    assert settings["INFINIUM_AGENT_ID"] == SANDBOX_AGENT_ID
    assert settings["INFINIUM_AGENT_SECRET"] == SANDBOX_AGENT_SECRET

    headers = {"x-agent-id": SANDBOX_AGENT_ID, "x-agent-key": SANDBOX_AGENT_SECRET}
    answer = requests.post(
        f"{base_url}/agents/{SANDBOX_AGENT_ID}/trace",
        json=MINIMAL_PAYLOAD,
        headers=headers,
        timeout=10,
    )
    assert answer.status_code == 201
    trace_id = answer.json()["traceId"]
    result = requests.get(
        f"{base_url}/agents/{SANDBOX_AGENT_ID}/interpreted-result/{trace_id}",
        headers=headers,
        timeout=10,
    )
    assert result.status_code == 200

    running.process.send_signal(stop_signal)
    assert running.process.wait(timeout=15) == 0
    assert running.process.stderr is not None
    stderr = running.process.stderr.read()
    assert "Traceback" not in stderr
    assert "POST" not in stderr  # no access log unless --verbose
    with pytest.raises(requests.ConnectionError):
        requests.get(base_url.removesuffix("/api/v1") + "/", timeout=2)


def test_cli_file_store_keeps_traces_across_runs(run_cli: type[Running], tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    headers = {"x-agent-id": SANDBOX_AGENT_ID, "x-agent-key": SANDBOX_AGENT_SECRET}
    first = run_cli(["--port", "0", "--db", str(db)])
    base_url = first.settings()["INFINIUM_BASE_URL"]
    requests.post(
        f"{base_url}/agents/{SANDBOX_AGENT_ID}/trace",
        json=MINIMAL_PAYLOAD,
        headers=headers,
        timeout=10,
    ).raise_for_status()
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=15) == 0

    second = run_cli(["--port", "0", "--db", str(db)])
    root = second.settings()["INFINIUM_BASE_URL"].removesuffix("/api/v1")
    listing = requests.get(f"{root}/api/sandbox/traces", timeout=10).json()
    assert [t["name"] for t in listing["traces"]] == [MINIMAL_PAYLOAD["name"]]
    second.process.send_signal(signal.SIGINT)
    assert second.process.wait(timeout=15) == 0


def test_cli_refuses_a_public_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "allow_remote" in capsys.readouterr().err


def test_cli_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_cli_rejects_unknown_not_ready_status() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--not-ready-status", "500"])
    assert exited.value.code == 2
