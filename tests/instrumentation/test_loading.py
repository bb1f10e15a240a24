"""Loading without optional packages, instrument_all, and ``opentelemetry-instrument``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.fake_openai import FakeOpenAI
from infinium_otel.instrumentation import instrument_all, uninstrument_all
from infinium_otel.instrumentation._base import missing_dependency

from .conftest import Tracing

TESTS_DIR = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, **env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def everything(tracing: Tracing) -> Iterator[tuple[Tracing, list[str]]]:
    names = instrument_all(tracer_provider=tracing.provider, capture_content=False)
    try:
        yield tracing, names
    finally:
        uninstrument_all()
        from infinium_otel.instrumentation.helpers import configure_helpers

        configure_helpers()


def test_instrument_all_names_installed_libraries_and_skips_repeats(
    everything: tuple[Tracing, list[str]],
) -> None:
    tracing, names = everything
    assert names == ["openai", "anthropic", "google_genai"]
    assert instrument_all(tracer_provider=tracing.provider) == []  # already instrumented
    import openai

    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="t", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    attrs = dict(tracing.only().attributes or {})
    assert "gen_ai.input.messages" not in attrs  # capture_content=False was passed through


def test_missing_dependency_parsing() -> None:
    assert missing_dependency(["openai >= 1.40"]) is None
    assert missing_dependency(["openai >= 999.0"]) is not None
    assert missing_dependency(["surely-not-installed-pkg >= 1"]) == (
        "surely-not-installed-pkg is not installed"
    )


@pytest.mark.slow
def test_missing_provider_libraries_are_skipped_quietly() -> None:
    done = run_python(
        """
        import sys, json
        sys.modules["anthropic"] = None
        sys.modules["google.genai"] = None
        import infinium_otel
        from infinium_otel.instrumentation import instrument_all
        from infinium_otel.instrumentation.anthropic import AnthropicInstrumentor
        print(json.dumps(instrument_all()))
        """
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["openai"]
    assert "Traceback" not in done.stderr
    assert "WARNING" not in done.stderr.upper()


@pytest.mark.slow
def test_works_without_opentelemetry_instrumentation_package() -> None:
    done = run_python(
        """
        import sys
        for name in ("opentelemetry.instrumentation", "opentelemetry.instrumentation.instrumentor"):
            sys.modules[name] = None
        import openai
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from fakes.fake_openai import FakeOpenAI
        from infinium_otel.instrumentation.openai import OpenAIInstrumentor

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        instrumentor = OpenAIInstrumentor()
        assert OpenAIInstrumentor() is instrumentor
        assert type(instrumentor).__mro__[1].__name__ == "_FallbackInstrumentor"
        instrumentor.instrument(tracer_provider=provider)
        with FakeOpenAI() as fake:
            client = openai.OpenAI(base_url=fake.base_url, api_key="t", max_retries=0)
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
            instrumentor.uninstrument()
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        print([s.name for s in exporter.get_finished_spans()])
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['chat m']"


@pytest.mark.slow
def test_opentelemetry_instrument_loads_our_instrumentors(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import openai
            client = openai.OpenAI(base_url=sys.argv[1], api_key="t", max_retries=0)
            client.chat.completions.create(
                model="gpt-auto", messages=[{"role": "user", "content": "hi"}]
            )
            from infinium_otel.instrumentation.openai import OpenAIInstrumentor
            print("ours instrumented:", OpenAIInstrumentor().is_instrumented_by_opentelemetry)
            """
        )
    )
    runner = Path(sys.executable).with_name("opentelemetry-instrument")
    env = dict(
        os.environ,
        OTEL_PYTHON_CONFIGURATOR="configurator",
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai,requests",
        OTEL_SERVICE_NAME="auto-test",
    )
    with FakeOpenAI() as fake:
        done = subprocess.run(
            [str(runner), sys.executable, str(script), fake.base_url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert '"name": "chat gpt-auto"' in done.stdout
    assert "ours instrumented: True" in done.stdout
    # The console exporter prints no scope; this provider name only our instrumentor emits.
    assert '"gen_ai.provider.name": "openai_compatible"' in done.stdout
    assert '"gen_ai.usage.output_tokens": 7' in done.stdout
