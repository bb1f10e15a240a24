"""Zero-code setup with one bad ``INFINIUM_*`` value switches off Infinium alone.

``opentelemetry-instrument`` builds ``InfiniumSpanExporter()`` inside the SDK's
setup; an exception there used to abort the rest of it (the console exporter
after it, every instrumentation) and print tracebacks. Now: one line naming
the variable, the other exporters and the instrumentations work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

APP = """
from opentelemetry import trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor

with trace.get_tracer("app").start_as_current_span("zero-code-hello"):
    pass
print("requests instrumented:", RequestsInstrumentor().is_instrumented_by_opentelemetry)
"""

GOOD = {
    "INFINIUM_AGENT_ID": "123e4567-e89b-12d3-a456-426614174000",
    "INFINIUM_AGENT_SECRET": "zero-code-secret-value",
    "INFINIUM_BASE_URL": "http://127.0.0.1:9/api/v1",
    "INFINIUM_INTERPRETATION": "off",
}


def run_instrumented(tmp_path: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(APP)
    launcher = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "INFINIUM_"))}
    env.update(
        GOOD,
        OTEL_TRACES_EXPORTER="console,infinium",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    env.update(extra_env)
    return subprocess.run(
        [str(launcher), sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(150)
@pytest.mark.parametrize("configurator", ["infinium", "configurator"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INFINIUM_TIMEOUT", "abc"),
        ("INFINIUM_AGENT_ID", "not-a-uuid"),
        ("INFINIUM_AGENT_SECRET", ""),  # empty is unset: the secret is missing
    ],
)
def test_one_line_names_the_variable_and_the_rest_still_works(
    tmp_path: Path, configurator: str, variable: str, value: str
) -> None:
    result = run_instrumented(tmp_path, OTEL_PYTHON_CONFIGURATOR=configurator, **{variable: value})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    naming = [line for line in result.stderr.splitlines() if variable in line]
    assert len(naming) == 1, result.stderr
    assert "Infinium export is off" in naming[0]
    assert GOOD["INFINIUM_AGENT_SECRET"] not in result.stderr + result.stdout
    # The console exporter still printed the span, and instrumentation still ran.
    assert '"name": "zero-code-hello"' in result.stdout, result.stdout
    assert "requests instrumented: True" in result.stdout


@pytest.mark.timeout(150)
def test_disabled_on_purpose_says_nothing(tmp_path: Path) -> None:
    result = run_instrumented(
        tmp_path,
        OTEL_PYTHON_CONFIGURATOR="infinium",
        INFINIUM_DISABLED="true",
        INFINIUM_TIMEOUT="5",
    )
    assert result.returncode == 0, result.stderr
    assert "INFINIUM" not in result.stderr and "Infinium" not in result.stderr, result.stderr
    assert '"name": "zero-code-hello"' in result.stdout


def test_built_with_settings_in_code_a_bad_value_still_raises() -> None:
    from infinium_otel.errors import ConfigurationError
    from infinium_otel.exporter import InfiniumSpanExporter

    with pytest.raises(ConfigurationError) as info:
        InfiniumSpanExporter(agent_id="not-a-uuid", agent_secret="long-enough-secret")
    assert info.value.config_key == "agent_id"


def test_built_from_a_bad_environment_it_is_a_quiet_no_op(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    from infinium_otel.exporter import InfiniumSpanExporter

    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INFINIUM_MAX_RETRIES", "lots")
    exporter = InfiniumSpanExporter()
    assert exporter.settings.disabled
    assert exporter.export([]) is SpanExportResult.SUCCESS
    [record] = [r for r in caplog.records if "INFINIUM_MAX_RETRIES" in r.getMessage()]
    assert record.exc_info is None
    exporter.shutdown()
