"""The sandbox is a server below the command line: it never imports the CLI.

``python -m infinium_otel.sandbox`` still runs the ``infinium-otel sandbox``
command, whose module lives in ``infinium_otel.cli``: its launcher,
``__main__.py``, is the one file that names the CLI, and only that command.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import infinium_otel.sandbox

_IMPORT_EVERY_SANDBOX_MODULE = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import infinium_otel.sandbox as package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    cli = [n for n in sys.modules if n == "infinium_otel.cli" or n.startswith("infinium_otel.cli.")]
    print(sorted(cli))
    """
)


@pytest.mark.timeout(60)
def test_no_sandbox_module_imports_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERY_SANDBOX_MODULE],
        capture_output=True,
        text=True,
        timeout=50,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _cli_imports(path: Path) -> list[str]:
    return sorted(
        name
        for name in _imported_names(path)
        if name == "infinium_otel.cli" or name.startswith("infinium_otel.cli.")
    )


def test_no_sandbox_file_but_the_launcher_has_an_import_of_the_cli() -> None:
    root = Path(infinium_otel.sandbox.__file__).parent
    offenders = {
        str(path.relative_to(root)): _cli_imports(path)
        for path in sorted(root.rglob("*.py"))
        if path != root / "__main__.py"
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_launcher_imports_only_the_sandbox_command() -> None:
    launcher = Path(infinium_otel.sandbox.__file__).parent / "__main__.py"
    assert _cli_imports(launcher) == ["infinium_otel.cli.sandbox"]
    assert "runpy" not in _imported_names(launcher)  # it calls the command's main() itself


@pytest.mark.timeout(60)
def test_python_dash_m_sandbox_runs_the_sandbox_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infinium_otel.sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: infinium-otel sandbox")
    assert "--not-ready-status" in result.stdout


@pytest.mark.timeout(60)
def test_python_dash_m_sandbox_refuses_a_bad_argument_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infinium_otel.sandbox", "--port", "x"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "infinium-otel sandbox: error: argument --port: not a port number: 'x' "
        "(see infinium-otel sandbox --help)"
    ]
