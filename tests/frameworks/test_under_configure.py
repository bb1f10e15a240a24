"""Each framework under ``configure()``: our instrumentors are loaded beside the framework's
own instrumentation and still one run per invocation, one LLM step per model call. Each runs in
a child process, since ``configure()`` sets the process's global tracer provider."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import assert_weather_run

HERE = Path(__file__).resolve().parent
REQUIRES = {
    "pydantic_ai": ("pydantic_ai",),
    "openai_agents": ("agents", "openinference.instrumentation.openai_agents"),
    "smolagents": ("smolagents", "openinference.instrumentation.smolagents"),
    "strands": ("strands", "strands.models.openai"),
    "crewai": ("crewai", "openinference.instrumentation.crewai"),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.timeout(150)
@pytest.mark.parametrize("framework", sorted(REQUIRES))
def test_one_run_under_configure(framework: str) -> None:
    missing = [m for m in REQUIRES[framework] if not _installed(m)]
    if missing:
        pytest.skip(f"{framework}: {', '.join(missing)} not installed (extras: frameworks*)")
    done = subprocess.run(
        [sys.executable, str(HERE / "under_configure.py"), str(HERE.parent), framework],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["flushed"]
    assert_weather_run(result["payloads"], name="weather_agent")
