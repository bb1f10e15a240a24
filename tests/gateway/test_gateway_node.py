"""A Node.js agent run (OpenTelemetry JS SDK and its OTLP/HTTP exporter) through the gateway.

The npm packages are installed at test time into ``.cache/gateway-node`` (ignored by
git); the test skips, saying why, where ``node`` or ``npm`` is absent or the install fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conversion.checks import check_payload
from infinium_otel.sandbox import Sandbox

from .support import accounted, start_gateway

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "gateway-node"
SCRIPT = Path(__file__).with_name("node") / "agent_run.js"
PACKAGES = (
    "@opentelemetry/api@^1",
    "@opentelemetry/sdk-trace-base@^2",
    "@opentelemetry/resources@^2",
    "@opentelemetry/exporter-trace-otlp-http@>=0.200",
)


def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node or npm is not on this machine")
    CACHE.mkdir(parents=True, exist_ok=True)
    ignore = CACHE.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    modules = CACHE / "node_modules"
    if not (modules / "@opentelemetry" / "exporter-trace-otlp-http").is_dir():
        try:
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
                cwd=CACHE,
                capture_output=True,
                text=True,
                timeout=240,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm install of the OpenTelemetry JS packages took over 240 s")
        if done.returncode != 0:
            pytest.skip(f"npm install failed: {done.stderr.strip()[-300:]}")
    return modules


def test_node_agent_run_becomes_one_payload(sandbox: Sandbox) -> None:
    modules = node_modules()
    gateway = start_gateway(sandbox)
    try:
        done = subprocess.run(
            ["node", str(SCRIPT), f"{gateway.http_url}/v1/traces"],
            env={"NODE_PATH": str(modules), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        trace_id = done.stdout.strip()
        stored = sandbox.wait_for_traces(1, timeout=15)
        assert gateway.close(10)
    finally:
        gateway.close(5)
    assert len(sandbox.traces()) == 1
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "researcher"
    assert [s["action"] for s in payload["steps"]] == ["llm_call", "tool_use"]
    assert payload["llm_usage"]["prompt_tokens"] == 21
    assert payload["llm_usage"]["completion_tokens"] == 8
    tags = payload["environment"]["custom_tags"]
    assert tags["otel.trace_id"] == trace_id
    assert tags["service.name"] == "node-agent"
    stats = gateway.stats()
    assert stats["gateway_spans_received"] == 3 and accounted(stats)
