"""docs/client.md stays true: its Python snippets run, in order, against the sandbox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def test_the_client_guide_snippets_run(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INFINIUM_AGENT_ID", "INFINIUM_AGENT_SECRET", "INFINIUM_BASE_URL"):
        monkeypatch.setenv(name, "")  # restored after the test; the guide sets them
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    try:
        exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
    finally:
        sandbox = namespace.get("sb")
        if sandbox is not None:
            sandbox.close()  # type: ignore[attr-defined]
