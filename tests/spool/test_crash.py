"""An agent killed with SIGKILL loses no run: the next process sends what it left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from infinium_otel.delivery.spool import Spool
from infinium_otel.sandbox import Fault, Sandbox

from .support import stored_names, subprocess_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="SIGKILL"),
]

AGENT = r"""
import sys, time
from opentelemetry.sdk.trace import TracerProvider
from infinium_otel import configure
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET
from infinium_otel.delivery.spool import Spool

url, spool_dir, count, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
provider = TracerProvider()
handle = configure(
    tracer_provider=provider, instrument=False, interpretation=False,
    agent_id=SANDBOX_AGENT_ID, agent_secret=SANDBOX_AGENT_SECRET, base_url=url,
    allow_insecure_http=True, spool_dir=spool_dir, max_retries=0, timeout=2.0,
)
tracer = provider.get_tracer("crash-test")
for i in range(count):
    name = f"crash-run-{i}"
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
    with tracer.start_as_current_span("invoke_agent " + name, attributes=attributes):
        pass
    time.sleep(0.02)
print("produced", flush=True)
while handle.stats().get("delivery_spooled", 0) < count:  # every run is on disk
    time.sleep(0.01)
print("spooled", flush=True)
spool = Spool(spool_dir)
if mode == "until-empty":
    deadline = time.monotonic() + 90
    while spool.entries() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("drained" if not spool.entries() else "left", flush=True)
    raise SystemExit(0 if handle.shutdown(10) else 1)
time.sleep(3600)
"""


def start_agent(sb: Sandbox, spool_dir: Path, count: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", AGENT, sb.url, str(spool_dir), str(count), mode],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"agent ended before {expected!r}: {err[-2000:]}")
        if line.strip() == expected:
            return


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def drain_with_a_new_process(sb: Sandbox, spool_dir: Path) -> None:
    replayer = start_agent(sb, spool_dir, 0, "until-empty")
    out, err = replayer.communicate(timeout=150)
    assert replayer.returncode == 0 and "drained" in out, err[-2000:]


def test_runs_of_an_agent_killed_while_the_server_was_down_all_arrive_once(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    count = 20
    sandbox.stop()  # the port stays ours; nothing answers on it
    agent = start_agent(sandbox, spool_dir, count, "forever")
    try:
        read_line(agent, "spooled")
    finally:
        kill(agent)
    assert len(Spool(spool_dir).entries()) == count
    sandbox.start()
    drain_with_a_new_process(sandbox, spool_dir)
    names = stored_names(sandbox)
    assert set(names) == {f"crash-run-{i}" for i in range(count)}
    # The server never accepted anything before the kill, so nothing can be twice.
    assert sum(names.values()) == count


def test_runs_of_an_agent_killed_mid_delivery_all_arrive(sandbox: Sandbox, spool_dir: Path) -> None:
    count = 30
    sandbox.faults.push("trace", Fault(status=503, repeat=6))
    agent = start_agent(sandbox, spool_dir, count, "forever")
    try:
        read_line(agent, "spooled")
    finally:
        kill(agent)  # mid-stream: some runs sent, some waiting, maybe one in flight
    before = len(sandbox.traces())
    left = len(Spool(spool_dir).entries())
    assert before + left >= count  # each run is on the server or on disk
    drain_with_a_new_process(sandbox, spool_dir)
    names = stored_names(sandbox)
    assert set(names) == {f"crash-run-{i}" for i in range(count)}
    duplicates = Counter({name: n - 1 for name, n in names.items() if n > 1})
    # One delivery thread has at most one request in flight: only a kill between
    # the server's acceptance and the file's removal can repeat a run, once.
    assert sum(duplicates.values()) <= 1, (before, left, duplicates)
    print(
        f"crash mid-delivery: {count} runs, {before} accepted before the kill, "
        f"{left} files left, {len(sandbox.traces())} stored, "
        f"{sum(duplicates.values())} duplicate(s)"
    )


def test_a_slow_agent_killed_during_a_send_loses_nothing(sandbox: Sandbox, spool_dir: Path) -> None:
    count = 8
    sandbox.faults.push("trace", Fault(status=503, delay=1.5, repeat=count))
    agent = start_agent(sandbox, spool_dir, count, "forever")
    try:
        read_line(agent, "spooled")
        time.sleep(0.5)  # a request is hanging on the server right now
    finally:
        kill(agent)
    assert len(Spool(spool_dir).entries()) == count
    sandbox.faults.clear()
    drain_with_a_new_process(sandbox, spool_dir)
    assert stored_names(sandbox) == {f"crash-run-{i}": 1 for i in range(count)}
