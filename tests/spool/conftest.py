"""Fixtures for the spool tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    """Where a test's spool lives (not created yet)."""
    return tmp_path / "spool"
