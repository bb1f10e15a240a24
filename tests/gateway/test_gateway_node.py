"""Node.js agent runs through the gateway: the OpenTelemetry JS SDK with its OTLP
exporters, by hand and with a real GenAI instrumentation from npm (OpenInference's
OpenAI instrumentation around the official ``openai`` client, calling a loopback fake).

The npm packages are pinned in ``tests/gateway/node/package.json`` and its lock file;
``.ci/run`` installs them with ``npm ci``, and so does the first test here when they
are missing. The tests skip only where ``node`` or ``npm`` is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conversion.checks import check_payload
from fakes.fake_openai import FakeOpenAI
from infinium_otel.sandbox import Sandbox

from .support import accounted, start_gateway

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NODE_DIR = Path(__file__).with_name("node")
MODULES = NODE_DIR / "node_modules"


def node_modules() -> Path:
    """The pinned packages, installed from the lock file when they are not yet."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node or npm is not on this machine")
    lock = NODE_DIR / "package-lock.json"
    installed = MODULES / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, f"npm ci failed: {done.stderr.strip()[-500:]}"
    return MODULES


def run_node(script: str, *args: str) -> str:
    done = subprocess.run(
        ["node", str(NODE_DIR / script), *args],
        env={"NODE_PATH": str(node_modules()), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_node_agent_run_becomes_one_payload(sandbox: Sandbox) -> None:
    node_modules()
    gateway = start_gateway(sandbox)
    try:
        trace_id = run_node("agent_run.js", f"{gateway.http_url}/v1/traces")
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
    # The run was made by Node.js, not by the gateway's Python.
    assert payload["environment"]["runtime"] == "nodejs"
    assert "python_version" not in payload["environment"]
    node_version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    assert "v" + payload["environment"]["custom_tags"]["process.runtime.version"] == node_version
    stats = gateway.stats()
    assert stats["gateway_spans_received"] == 3 and accounted(stats)


def test_node_openinference_openai_instrumentation_becomes_one_payload(
    sandbox: Sandbox,
) -> None:
    """The model call's span comes from the instrumentation itself (its own attribute
    names: ``llm.model_name``, ``llm.token_count.*``, ``llm.input_messages.*``), sent
    as OTLP/HTTP protobuf by the JS exporter, grouped with the agent's spans."""
    node_modules()
    gateway = start_gateway(sandbox)
    try:
        with FakeOpenAI(
            model="gpt-node-test", reply="Paris.", input_tokens=17, output_tokens=3
        ) as fake:
            trace_id = run_node("openai_agent.js", f"{gateway.http_url}/v1/traces", fake.base_url)
            asked = [seen.body for seen in fake.requests]
        stored = sandbox.wait_for_traces(1, timeout=15)
        assert gateway.close(10)
    finally:
        gateway.close(5)
    assert len(asked) == 1 and asked[0]["model"] == "gpt-node-test"
    assert len(sandbox.traces()) == 1
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "capital-agent"
    assert payload["input_summary"] == "What is the capital of France?"
    assert payload["output_summary"] == "Paris."
    tool, llm = payload["steps"]
    assert tool["action"] == "tool_use"
    assert llm["action"] == "llm_call"
    assert llm["metadata"]["instrumentation"] == "@arizeai/openinference-instrumentation-openai"
    assert llm["llm_call"] == {
        "model": "gpt-node-test",
        "provider": "openai",
        "prompt_tokens": 17,
        "completion_tokens": 3,
        "latency_ms": llm["llm_call"]["latency_ms"],
    }
    assert "What is the capital of France?" in llm["input_preview"]
    assert llm["output_preview"] == "Paris."
    usage = payload["llm_usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["api_calls_count"]) == (
        17,
        3,
        1,
    )
    tags = payload["environment"]["custom_tags"]
    assert tags["otel.trace_id"] == trace_id
    assert tags["service.name"] == "node-openai-agent"
    assert payload["environment"]["runtime"] == "nodejs"
    stats = gateway.stats()
    assert stats["gateway_spans_received"] == 3 and accounted(stats)
    assert stats["gateway_traces_handed_over"] == 1
