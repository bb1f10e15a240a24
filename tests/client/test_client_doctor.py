"""``infinium-otel doctor`` says "ok" only for a real Infinium answer, and exits 1 otherwise.

The command runs as users run it (``cli.main(["doctor", ...])``, settings from
the environment) against real loopback servers.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from infinium_otel.cli import main as cli_main
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

from .servers import free_port, html_everywhere, static_files


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("INFINIUM_")]:
        monkeypatch.delenv(name)


def doctor(
    monkeypatch: pytest.MonkeyPatch, base_url: str, secret: str = SANDBOX_AGENT_SECRET
) -> tuple[int, str]:
    """Run the doctor against ``base_url``; its exit code and what it printed."""
    monkeypatch.setenv("INFINIUM_AGENT_ID", SANDBOX_AGENT_ID)
    monkeypatch.setenv("INFINIUM_AGENT_SECRET", secret)
    monkeypatch.setenv("INFINIUM_BASE_URL", base_url)
    out = io.StringIO()
    from infinium_otel.cli import doctor as doctor_module

    code = doctor_module.main(["--timeout", "5"], out=out)
    return code, out.getvalue()


def endpoint_line(output: str) -> str:
    """The endpoint check's line (the settings line names the endpoint too, without a colon)."""
    (line,) = [
        line
        for line in output.splitlines()
        if "endpoint:" in line or "endpoint reached" in line or "credentials:" in line
    ]
    return line


def test_the_sandbox_passes_every_check(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    code, output = doctor(monkeypatch, sandbox.url)
    assert code == 0, output
    assert "[ok] endpoint reached and credentials accepted" in output
    assert "all checks passed" in output
    assert "[FAIL]" not in output


def test_the_command_line_exits_non_zero_for_a_web_app(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with html_everywhere(200) as url:
        monkeypatch.setenv("INFINIUM_AGENT_ID", SANDBOX_AGENT_ID)
        monkeypatch.setenv("INFINIUM_AGENT_SECRET", SANDBOX_AGENT_SECRET)
        monkeypatch.setenv("INFINIUM_BASE_URL", url + "/api/v1")
        code = cli_main(["doctor", "--timeout", "5"])
    output = capsys.readouterr().out
    assert code == 1
    assert "[FAIL] endpoint" in output
    assert "this is not an Infinium API (got text/html)" in output
    assert "some checks failed" in output


def test_a_static_file_server_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html>files</html>")
    with static_files(tmp_path) as url:
        code, output = doctor(monkeypatch, url)
    assert code == 1
    line = endpoint_line(output)
    assert line.startswith("[FAIL]")
    assert "this is not an Infinium API (got text/html)" in line
    assert "missing /api/v1" in line  # the URL has no /api/v1: the likely cause


@pytest.mark.parametrize("status", [200, 404])
def test_a_web_app_answering_html_fails(monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    with html_everywhere(status) as url:
        code, output = doctor(monkeypatch, url + "/api/v1")
    assert code == 1
    line = endpoint_line(output)
    assert line.startswith("[FAIL]") and "got text/html" in line


def test_the_sandbox_without_the_api_root_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    code, output = doctor(monkeypatch, sandbox.url.removesuffix("/api/v1"))
    assert code == 1
    line = endpoint_line(output)
    assert line.startswith("[FAIL]")
    assert "wrong path: is INFINIUM_BASE_URL missing /api/v1?" in line


def test_nothing_listening_is_a_refused_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    code, output = doctor(monkeypatch, f"http://127.0.0.1:{port}/api/v1")
    assert code == 1
    line = endpoint_line(output)
    assert line.startswith("[FAIL]")
    assert f"connection refused: nothing is listening at 127.0.0.1:{port}" in line
    assert "no answer within" not in line and "timed out" not in line


def test_a_wrong_secret_fails_as_refused_credentials(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    code, output = doctor(monkeypatch, sandbox.url, secret="not-the-sandbox-secret")
    assert code == 1
    line = endpoint_line(output)
    assert line.startswith("[FAIL] credentials: refused (401)")
    assert "not-the-sandbox-secret" not in output
