"""Zero-code setup: ``opentelemetry-instrument python agent.py`` with no code change.

The agent script knows nothing about Infinium: it makes spans through the
global tracer provider. The exporter is chosen by ``OTEL_TRACES_EXPORTER`` and
set up by a configurator (the distro's, or ours), and the sandbox running in
this test process must receive the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infinium_otel.autoconfigure import distro_filled
from infinium_otel.sandbox import Sandbox

from .support import checked_payloads, step_names

AGENT_SCRIPT = """
from opentelemetry import trace

tracer = trace.get_tracer("zero.code.agent")
with tracer.start_as_current_span(
    "invoke_agent planner",
    attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
):
    with tracer.start_as_current_span(
        "invoke_agent researcher",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"},
    ):
        with tracer.start_as_current_span(
            "chat gpt-zero",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-zero",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 3,
            },
        ):
            pass
    with tracer.start_as_current_span(
        "execute_tool search",
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
    ):
        pass
with tracer.start_as_current_span("GET /health"):
    pass
print("agent done")
"""


def instrument_command() -> list[str]:
    launcher = Path(sys.executable).with_name("opentelemetry-instrument")
    assert launcher.exists(), launcher
    return [str(launcher), sys.executable]


def run_agent(
    tmp_path: Path, sandbox: Sandbox, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "INFINIUM_"))
    }
    env.update(
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
        INFINIUM_INTERPRETATION="off",
        OTEL_SERVICE_NAME="zero-code-agent",
    )
    env.update(extra_env)
    return subprocess.run(
        [*instrument_command(), str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_planner_run(sandbox: Sandbox, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "agent done" in result.stdout
    # The process exits right away: the provider's shutdown must deliver the run.
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "planner"
    assert step_names(payload) == ["agent researcher", "chat gpt-zero", "tool search"]
    assert payload["llm_usage"]["prompt_tokens"] == 12
    assert payload["environment"]["custom_tags"]["service.name"] == "zero-code-agent"
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.slow
def test_distro_configurator_with_the_infinium_traces_exporter(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    result = run_agent(
        tmp_path,
        sandbox,
        OTEL_PYTHON_CONFIGURATOR="configurator",
        OTEL_TRACES_EXPORTER="infinium",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    assert_one_planner_run(sandbox, result)


@pytest.mark.slow
def test_our_configurator_sends_runs_by_default(tmp_path: Path, sandbox: Sandbox) -> None:
    result = run_agent(tmp_path, sandbox, OTEL_PYTHON_CONFIGURATOR="infinium")
    assert_one_planner_run(sandbox, result)


@pytest.mark.slow
def test_our_configurator_beside_a_console_exporter(tmp_path: Path, sandbox: Sandbox) -> None:
    result = run_agent(
        tmp_path,
        sandbox,
        OTEL_PYTHON_CONFIGURATOR="infinium",
        OTEL_TRACES_EXPORTER="infinium,console",
    )
    assert_one_planner_run(sandbox, result)
    # The console exporter saw every span, the plain web request included.
    assert '"name": "GET /health"' in result.stdout


DISTRO_VALUES = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
}


def test_values_the_distro_filled_in_give_way_to_ours() -> None:
    environ = dict(DISTRO_VALUES, OTEL_SERVICE_NAME="svc")
    assert sorted(distro_filled(environ, {"OTEL_SERVICE_NAME": "svc"}, True)) == sorted(
        DISTRO_VALUES
    )


def test_values_the_user_set_are_kept() -> None:
    environ = dict(DISTRO_VALUES, OTEL_TRACES_EXPORTER="otlp")
    initial = {"OTEL_TRACES_EXPORTER": "otlp"}
    assert "OTEL_TRACES_EXPORTER" not in distro_filled(environ, initial, True)
    assert "OTEL_METRICS_EXPORTER" in distro_filled(environ, initial, True)


def test_nothing_is_replaced_when_the_distro_did_not_run() -> None:
    assert distro_filled(DISTRO_VALUES, {}, False) == []
    assert distro_filled(dict(DISTRO_VALUES, OTEL_PYTHON_DISTRO="other"), {}, True) == []


def test_without_the_initial_environment_only_the_full_distro_footprint_counts() -> None:
    assert sorted(distro_filled(DISTRO_VALUES, None, True)) == sorted(DISTRO_VALUES)
    partial = dict(DISTRO_VALUES, OTEL_TRACES_EXPORTER="console")
    assert distro_filled(partial, None, True) == []
