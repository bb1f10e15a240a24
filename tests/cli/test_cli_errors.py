"""The ``infinium-otel`` command never answers a user mistake with a traceback.

Each case runs the real command in a subprocess: one clear line on stderr and
exit status 2 (a usage mistake) or 1 (something it could not do).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infinium_otel.sandbox import Sandbox

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from infinium_otel.cli import main; raise SystemExit(main())"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFINIUM_"))}
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["sandbox", "--db", "/missing/folder/x.db", "--port", "0"], 1, "--db"),
        (["sandbox", "--port", "99999"], 2, "--port"),
        (["sandbox", "--port", "http"], 2, "--port"),
        (["sandbox", "--delay", "-1", "--port", "0"], 2, "--delay"),
        (["sandbox", "--bogus"], 2, "--bogus"),
        (["demo", "--delay", "-1"], 2, "--delay"),
        (["demo", "--timeout", "nan"], 2, "--timeout"),
        (["demo", "--bogus"], 2, "--bogus"),
        (["bogus"], 2, "unknown command 'bogus'"),
        (["--bogus"], 2, "unknown command '--bogus'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else str(value),
)
def test_a_mistake_is_one_line_and_a_status(
    tmp_path: Path, args: list[str], status: int, says: str
) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == status, result.stderr
    line = one_error_line(result.stderr)
    assert says in line
    assert line.startswith("infinium-otel")


@pytest.mark.timeout(90)
def test_a_db_that_is_not_sqlite_is_one_line(tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("these are my notes, not a database\n" * 100)
    result = run_cli("sandbox", "--db", str(not_a_db), "--port", "0", cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert str(not_a_db) in line
    assert not_a_db.read_text().startswith("these are my notes")


@pytest.mark.timeout(90)
def test_unknown_options_of_every_command_show_no_traceback(tmp_path: Path) -> None:
    for command in ("doctor", "spool"):
        result = run_cli(command, "--bogus", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "--bogus" in result.stderr


def pipeline(reader: str, tmp_path: Path, **env: str) -> tuple[int, str]:
    """``infinium-otel doctor | <reader>``: the CLI's status and stderr."""
    command = " ".join(f"'{part}'" for part in [*CLI, "doctor", "--timeout", "5"])
    errors = tmp_path / "stderr.txt"
    script = f"set +o pipefail; {command} 2>'{errors}' | {reader}; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, errors.read_text()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("reader", ["true", "head -n 0"])
def test_a_reader_that_closes_at_once_ends_doctor_quietly(tmp_path: Path, reader: str) -> None:
    status, stderr = pipeline(reader, tmp_path)
    assert status == 1
    assert stderr == "", stderr


@pytest.mark.timeout(90)
def test_doctor_into_head_shows_no_traceback(tmp_path: Path, sandbox: Sandbox) -> None:
    status, stderr = pipeline(
        "head -3",
        tmp_path,
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
    )
    assert status in (0, 1)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


@pytest.mark.timeout(90)
def test_ctrl_c_during_the_demo_exits_130_without_a_traceback(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*CLI, "demo", "--delay", "30", "--timeout", "60"],
        cwd=tmp_path,
        env=clean_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A job started in the background inherits SIGINT ignored, and Python then
        # installs no KeyboardInterrupt handler: give the child the default, as a
        # terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the sandbox is up: the demo is running
        assert "sandbox" in first
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
