"""``infinium-otel spool list|replay|purge`` run as real subprocesses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infinium_otel.delivery.spool import Spool
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

from .support import CLI, fill, stored_names, subprocess_env

pytestmark = pytest.mark.slow


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "spool", *args],
        capture_output=True,
        text=True,
        env=env or subprocess_env(),
        timeout=120,
    )


def agent_env(sb: Sandbox, secret: str = SANDBOX_AGENT_SECRET) -> dict[str, str]:
    return subprocess_env(
        INFINIUM_AGENT_ID=SANDBOX_AGENT_ID,
        INFINIUM_AGENT_SECRET=secret,
        INFINIUM_BASE_URL=sb.url,
        INFINIUM_ALLOW_INSECURE_HTTP="true",
        INFINIUM_MAX_RETRIES="0",
    )


def test_list_shows_count_bytes_and_files(spool_dir: Path) -> None:
    keys = fill(Spool(spool_dir), ["a", "b", "c"])
    done = run_cli("list", "--dir", str(spool_dir), "-v")
    assert done.returncode == 0, done.stderr
    total = sum(e.size for e in Spool(spool_dir).entries())
    assert f"3 payload(s), {total} bytes" in done.stdout
    for key in keys:
        assert f"{key}.json" in done.stdout
    brief = run_cli("list", env=subprocess_env(INFINIUM_SPOOL_DIR=str(spool_dir)))
    assert "3 payload(s)" in brief.stdout and keys[0] not in brief.stdout


def test_replay_sends_everything_with_a_progress_bar(sandbox: Sandbox, spool_dir: Path) -> None:
    names = [f"cli-{i}" for i in range(30)]
    fill(Spool(spool_dir), names)
    done = run_cli("replay", "--dir", str(spool_dir), "--progress", env=agent_env(sandbox))
    assert done.returncode == 0, done.stderr
    assert "sent 30" in done.stdout and "0 left" in done.stdout
    assert "30/30" in done.stderr and "[" + "#" * 30 + "]" in done.stderr
    assert stored_names(sandbox) == dict.fromkeys(names, 1)
    assert Spool(spool_dir).entries() == []


def test_replay_stops_on_refused_credentials_and_keeps_the_files(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    fill(Spool(spool_dir), ["x", "y"])
    done = run_cli("replay", "--dir", str(spool_dir), env=agent_env(sandbox, "wrong-secret-99"))
    assert done.returncode == 3
    assert "credentials refused (401)" in done.stderr
    assert "wrong-secret-99" not in done.stderr + done.stdout
    assert len(Spool(spool_dir).entries()) == 2
    assert len([r for r in sandbox.requests if r.endpoint == "trace"]) == 1


def test_purge_requires_yes(spool_dir: Path) -> None:
    fill(Spool(spool_dir), ["p", "q"])
    refused = run_cli("purge", "--dir", str(spool_dir))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(Spool(spool_dir).entries()) == 2
    done = run_cli("purge", "--dir", str(spool_dir), "--yes")
    assert done.returncode == 0 and "deleted 2" in done.stdout
    assert Spool(spool_dir).entries() == []


def test_two_replay_processes_send_each_payload_once(sandbox: Sandbox, spool_dir: Path) -> None:
    names = [f"parallel-{i}" for i in range(60)]
    fill(Spool(spool_dir), names)
    command = [*CLI, "spool", "replay", "--dir", str(spool_dir)]
    procs = [
        subprocess.Popen(
            command,
            env=agent_env(sandbox),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert stored_names(sandbox) == dict.fromkeys(names, 1)
    assert Spool(spool_dir).entries() == []
