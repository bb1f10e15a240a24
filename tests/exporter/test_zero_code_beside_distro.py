"""``infinium-otel[instrument]`` beside ``opentelemetry-distro`` never silently
replaces the distro's OTLP setup.

Merely installed beside it, our configurator keeps the distro's defaults and
adds Infinium to the trace exporters; chosen by name it takes over, and says so
in one warning. The OTLP/gRPC exporter the distro names is not installed here,
so a stand-in distribution maps the ``otlp_proto_grpc`` entry points (what
``otlp`` with the gRPC protocol means) to the SDK's console
exporters: what reaches stdout is what the distro's ``otlp`` setting exported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from infinium_otel.autoconfigure import plan
from infinium_otel.sandbox import Sandbox

from .support import checked_payloads

DISTRO = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
}

STAND_IN_ENTRY_POINTS = """\
[opentelemetry_traces_exporter]
otlp_proto_grpc = opentelemetry.sdk.trace.export:ConsoleSpanExporter

[opentelemetry_metrics_exporter]
otlp_proto_grpc = opentelemetry.sdk.metrics.export:ConsoleMetricExporter

[opentelemetry_logs_exporter]
otlp_proto_grpc = opentelemetry.sdk._logs.export:ConsoleLogRecordExporter
"""

APP = """
from opentelemetry import trace

tracer = trace.get_tracer("beside.distro")
with tracer.start_as_current_span(
    "invoke_agent keeper",
    attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "keeper"},
):
    with tracer.start_as_current_span(
        "chat gpt-d", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "d"}
    ):
        pass
print("app done")
"""


# -- the rule, as a pure function ------------------------------------------------


def test_merely_installed_it_keeps_the_distro_setup_and_adds_infinium() -> None:
    env = dict(DISTRO, INFINIUM_AGENT_ID="x")
    decided = plan(env, {"INFINIUM_AGENT_ID": "x"}, distro_ran=True, chosen=False)
    assert decided.assign == {"OTEL_TRACES_EXPORTER": "otlp,infinium"}
    assert decided.replace == {}
    assert decided.warning is None


def test_merely_installed_without_infinium_credentials_it_changes_nothing() -> None:
    decided = plan(dict(DISTRO), {}, distro_ran=True, chosen=False)
    assert (decided.assign, decided.replace, decided.warning) == ({}, {}, None)


def test_a_trace_exporter_the_user_chose_is_never_touched() -> None:
    env = dict(DISTRO, OTEL_TRACES_EXPORTER="console", INFINIUM_AGENT_ID="x")
    initial = {"OTEL_TRACES_EXPORTER": "console", "INFINIUM_AGENT_ID": "x"}
    for chosen in (False, True):
        decided = plan(env, initial, distro_ran=True, chosen=chosen)
        assert "OTEL_TRACES_EXPORTER" not in decided.assign
        assert "OTEL_TRACES_EXPORTER" not in decided.replace


def test_chosen_by_name_it_takes_over_and_warns_naming_what() -> None:
    decided = plan(dict(DISTRO), {}, distro_ran=True, chosen=True)
    assert decided.replace == {k: v for k, v in DISTRO.items() if k.endswith("_EXPORTER")}
    assert decided.assign["OTEL_TRACES_EXPORTER"] == "infinium"
    assert decided.assign["OTEL_METRICS_EXPORTER"] == "none"
    assert decided.warning is not None
    assert "OTEL_TRACES_EXPORTER=otlp" in decided.warning
    assert "\n" not in decided.warning


def test_chosen_by_name_with_every_exporter_set_by_the_user_it_says_nothing() -> None:
    mine = {k: "console" for k in DISTRO if k.endswith("_EXPORTER")}
    env = dict(DISTRO, **mine)
    decided = plan(env, mine, distro_ran=True, chosen=True)
    assert (decided.replace, decided.warning) == ({}, None)


def test_without_the_distro_only_unset_variables_get_our_defaults() -> None:
    decided = plan({"OTEL_LOGS_EXPORTER": "console"}, {}, distro_ran=False, chosen=False)
    assert decided.assign["OTEL_TRACES_EXPORTER"] == "infinium"
    assert "OTEL_LOGS_EXPORTER" not in decided.assign
    assert decided.warning is None


# -- the real thing: opentelemetry-instrument with the distro installed ----------


def our_configurator_runs_first() -> bool:
    found = [ep.name for ep in entry_points(group="opentelemetry_configurator")]
    return bool(found) and found[0] == "infinium"


def run_beside_distro(
    tmp_path: Path, sandbox: Sandbox, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    stand_in = tmp_path / "site"
    info = stand_in / "otlp_stand_in-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: otlp-stand-in\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(STAND_IN_ENTRY_POINTS)
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFINIUM_"))}
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (os.environ.get("PYTHONPATH"), str(stand_in)) if part
    )
    env.update(
        INFINIUM_AGENT_ID=sandbox.agent_id,
        INFINIUM_AGENT_SECRET=sandbox.agent_secret,
        INFINIUM_BASE_URL=sandbox.url,
        INFINIUM_INTERPRETATION="off",
        OTEL_METRIC_EXPORT_INTERVAL="600000",
    )
    env.update(extra_env)
    launcher = Path(sys.executable).with_name("opentelemetry-instrument")
    return subprocess.run(
        [str(launcher), sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_installed_beside_the_distro_the_otlp_setup_stays_and_infinium_is_added(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    if not our_configurator_runs_first():
        pytest.skip("the distro's configurator comes first here, so ours does not run")
    result = run_beside_distro(tmp_path, sandbox)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "app done" in result.stdout
    # The distro's ``otlp`` trace exporter still got the spans ...
    assert '"name": "invoke_agent keeper"' in result.stdout, result.stdout
    # ... and the run reached Infinium too.
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "keeper"
    assert "replaces" not in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_chosen_by_name_beside_the_distro_it_takes_over_with_one_warning(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    result = run_beside_distro(tmp_path, sandbox, OTEL_PYTHON_CONFIGURATOR="infinium")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "opentelemetry-distro" in line]
    assert "OTEL_TRACES_EXPORTER=otlp" in warning and "replaces" in warning
    assert '"name": "invoke_agent keeper"' not in result.stdout
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "keeper"
