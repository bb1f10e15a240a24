"""``infinium-otel results`` as a real subprocess, against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.interpretation.history import RunHistory, new_record
from infinium_otel.sandbox import Sandbox

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"
OTHER_AGENT = "00000000-0000-4000-8000-0000000000ff"
OTHER_RUN = "00000000-0000-4000-8000-0000000000fe"
PAYLOAD = {
    "name": "run",
    "description": "d",
    "current_datetime": "2026-01-01T00:00:00.000Z",
    "duration": 1.0,
}


@pytest.fixture
def graded() -> Iterator[Sandbox]:
    """A sandbox that grades only runs made ready by the test."""
    with Sandbox(interpretation_delay=3600) as sandbox:
        yield sandbox


def _send(sandbox: Sandbox, name: str) -> str:
    with InfiniumClient(
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
        base_url=sandbox.url,
        max_retries=0,
    ) as client:
        response = client.send_task_data({**PAYLOAD, "name": name})
    assert response.trace_id
    return response.trace_id


@pytest.fixture
def history(graded: Sandbox, tmp_path: Path) -> dict[str, Any]:
    """Four recorded runs: graded, still grading, another agent's, another endpoint's."""
    path = tmp_path / "history.jsonl"
    runs = RunHistory(path)
    ready, pending = _send(graded, "billing-bot"), _send(graded, "triage-bot")
    graded.make_ready(ready)
    base = 1_800_000_000.0
    runs.append(new_record(name="billing-bot", trace_id=ready, agent_id=graded.agent_id,
                           base_url=graded.url, otel_trace_id=7, now=base))  # fmt: skip
    runs.append(new_record(name="triage-bot", trace_id=pending, agent_id=graded.agent_id,
                           base_url=graded.url, now=base + 1))  # fmt: skip
    runs.append(new_record(name="someone-else", trace_id=OTHER_RUN, agent_id=OTHER_AGENT,
                           base_url=graded.url, now=base + 2))  # fmt: skip
    runs.append(new_record(name="elsewhere", trace_id=OTHER_AGENT, agent_id=graded.agent_id,
                           base_url="https://example.invalid/api/v1", now=base + 3))  # fmt: skip
    return {"path": path, "ready": ready, "pending": pending}


def results(
    *args: str, sandbox: Sandbox | None = None, secret: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INFINIUM_", "OTEL_"))}
    environ["PYTHONPATH"] = str(SRC)
    if sandbox is not None:
        environ.update(
            INFINIUM_AGENT_ID=sandbox.agent_id,
            INFINIUM_AGENT_SECRET=secret or sandbox.agent_secret,
            INFINIUM_BASE_URL=sandbox.url,
        )
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "infinium_otel.cli.results", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _polls(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.endpoint == "interpretation")


@pytest.mark.timeout(90)
def test_json_lists_the_newest_runs_with_their_verdicts(
    graded: Sandbox, history: dict[str, Any]
) -> None:
    result = results("--json", "--history", str(history["path"]), sandbox=graded)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["name"] for r in runs] == ["elsewhere", "someone-else", "triage-bot", "billing-bot"]
    by_name = {r["name"]: r for r in runs}
    billing = by_name["billing-bot"]
    assert billing["status"] == "ready"
    assert billing["trace_id"] == history["ready"]
    assert billing["verdict"]["summary"].startswith("Run 'billing-bot' took")
    assert billing["evaluations"][0]["name"] == "maestro"
    assert billing["otel_trace_id"] == format(7, "032x")
    assert billing["delivered_at"] == "2027-01-15T08:00:00Z"
    assert by_name["triage-bot"]["status"] == "pending"
    assert by_name["triage-bot"]["verdict"] is None
    assert by_name["someone-else"]["status"] == "other_agent"
    assert by_name["someone-else"]["message"] == "other agent: credentials not available"
    assert by_name["elsewhere"]["status"] == "other_endpoint"
    assert _polls(graded) == 2  # only the runs this environment may ask about
    assert graded.agent_secret not in result.stdout + result.stderr


@pytest.mark.timeout(90)
def test_readable_lines_and_last_n_from_the_environment(
    graded: Sandbox, history: dict[str, Any]
) -> None:
    result = results("--last", "3", sandbox=graded, INFINIUM_HISTORY=str(history["path"]))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert "someone-else" in lines[1] and "other agent: credentials not available" in lines[1]
    assert lines[2].startswith("2027-01-15T08:00:01Z  triage-bot  ")
    assert "pending" in lines[2]
    assert "billing-bot" not in result.stdout


@pytest.mark.timeout(90)
def test_refused_credentials_stop_after_one_lookup_and_fail(
    graded: Sandbox, history: dict[str, Any]
) -> None:
    wrong = "not-the-right-secret"
    result = results("--json", "--history", str(history["path"]), sandbox=graded, secret=wrong)
    assert result.returncode == 1
    statuses = {r["name"]: r["status"] for r in json.loads(result.stdout)}
    assert statuses["billing-bot"] == statuses["triage-bot"] == "error"
    assert _polls(graded) == 1
    assert wrong not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(90)
def test_an_unreachable_endpoint_is_a_failed_lookup(
    graded: Sandbox, history: dict[str, Any]
) -> None:
    graded.stop()
    result = results("--history", str(history["path"]), "--timeout", "2", sandbox=graded)
    assert result.returncode == 1
    assert "error" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.timeout(90)
def test_without_credentials_the_runs_are_listed_without_verdicts(
    history: dict[str, Any],
) -> None:
    result = results("--json", "--history", str(history["path"]))
    assert result.returncode == 0, result.stderr
    assert {r["status"] for r in json.loads(result.stdout)} == {"no_credentials"}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "no run history is kept"),
        (("--last", "zero"), {"INFINIUM_HISTORY": "true"}, "--last"),
        (("--last", "0"), {"INFINIUM_HISTORY": "true"}, "--last"),
        ((), {"INFINIUM_HISTORY": "true", "INFINIUM_AGENT_ID": "nope"}, "INFINIUM_AGENT_ID"),
    ],
)
def test_user_mistakes_are_one_clear_line_without_a_traceback(
    args: tuple[str, ...], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path), **env}
    result = results(*args, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_history_says_so(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    text = results("--history", str(path))
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip() == f"no runs recorded in {path} yet"
    as_json = results("--history", str(path), "--json")
    assert json.loads(as_json.stdout) == []


def test_main_returns_the_exit_status_instead_of_raising(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infinium_otel.cli.results import main

    assert main(["--last", "0"]) == 2
    assert "--last" in capsys.readouterr().err
    assert main(["-h"]) == 0
    assert "--json" in capsys.readouterr().out


AGENT_SCRIPT = """
import infinium_otel
from infinium_otel import agent

handle = infinium_otel.configure(interpretation=["log"], instrument=False)
with agent("history-bot"):
    pass
assert handle.flush(20.0)
handle.shutdown(5.0)
"""


@pytest.mark.timeout(120)
def test_a_run_delivered_with_history_on_is_listed_by_the_command(
    graded: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INFINIUM_", "OTEL_"))}
    environ.update(
        PYTHONPATH=str(SRC),
        INFINIUM_AGENT_ID=graded.agent_id,
        INFINIUM_AGENT_SECRET=graded.agent_secret,
        INFINIUM_BASE_URL=graded.url,
        INFINIUM_HISTORY=str(path),
    )
    agent_run = subprocess.run(
        [sys.executable, "-c", AGENT_SCRIPT], env=environ, capture_output=True, text=True,
        timeout=90, check=False,
    )  # fmt: skip
    assert agent_run.returncode == 0, agent_run.stderr
    (stored,) = graded.traces()
    graded.make_ready(stored.trace_id)
    listed = subprocess.run(
        [sys.executable, "-c", "from infinium_otel.cli import main; raise SystemExit(main())",
         "results", "--json"],
        env=environ, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["name"] == "history-bot"
    assert run["trace_id"] == stored.trace_id
    assert run["status"] == "ready"
    assert graded.agent_secret not in listed.stdout + listed.stderr + path.read_text()
