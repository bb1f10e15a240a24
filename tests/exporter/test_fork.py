"""After ``os.fork()`` the child exports its own runs and never resends the parent's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infinium_otel.sandbox import Sandbox

from .support import checked_payloads, tags, trace_posts

TESTS_DIR = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, os, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
import infinium_otel

provider = TracerProvider()
handle = infinium_otel.configure(tracer_provider=provider, instrument=False, interpretation=False)
tracer = provider.get_tracer("fork")
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-fork"}

def run(name, chats):
    with tracer.start_as_current_span(
        f"invoke_agent {name}",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
    ):
        for _ in range(chats):
            with tracer.start_as_current_span("chat", attributes=CHAT):
                pass

root = tracer.start_span(
    "invoke_agent parent-run",
    attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "parent-run"},
)
with trace.use_span(root, end_on_exit=False):
    for _ in range(2):
        with tracer.start_as_current_span("chat", attributes=CHAT):
            pass
# The parent's exporter now buffers the two chat spans of its unfinished run.
assert handle.flush(5.0)
assert handle.stats()["spans_buffered"] == 2

read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(read_end)
    report = {"buffered_after_fork": handle.stats()["spans_buffered"]}
    run("child-run", 3)
    report["shutdown"] = handle.shutdown(10.0)
    report["stats"] = handle.stats()
    os.write(write_end, json.dumps(report).encode())
    os.close(write_end)
    os._exit(0)

os.close(write_end)
_, status = os.waitpid(pid, 0)
child = json.loads(os.read(read_end, 1 << 20).decode() or "{}")
with trace.use_span(root, end_on_exit=True):
    with tracer.start_as_current_span("chat", attributes=CHAT):
        pass
print(json.dumps({
    "child_status": status,
    "child": child,
    "parent_shutdown": handle.shutdown(10.0),
    "parent_stats": handle.stats(),
}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_child_sends_only_its_run_and_the_parent_only_its_own(sandbox: Sandbox) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFINIUM_"))}
    env.update(
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=TESTS_DIR,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    child = report["child"]
    assert report["child_status"] == 0
    # The child starts clean: nothing of the parent's run is held or resent.
    assert child["buffered_after_fork"] == 0
    assert child["shutdown"] is True
    assert child["stats"]["delivery_delivered"] == 1
    assert child["stats"]["runs_partial"] == 0
    assert report["parent_shutdown"] is True
    assert report["parent_stats"]["delivery_delivered"] == 1

    payloads = checked_payloads(sandbox)
    assert sorted(p["name"] for p in payloads) == ["child-run", "parent-run"]
    assert trace_posts(sandbox) == 2
    by_name = {p["name"]: p for p in payloads}
    assert by_name["child-run"]["llm_usage"]["api_calls_count"] == 3
    # The parent's run is whole: the two chats from before the fork and one after.
    assert by_name["parent-run"]["llm_usage"]["api_calls_count"] == 3
    assert "partial" not in tags(by_name["parent-run"])
