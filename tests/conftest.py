"""Shared fixtures: a fresh in-memory sandbox server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infinium_otel.sandbox import Sandbox

pytest_plugins = ["secret_scan"]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A running in-memory sandbox on a free loopback port, interpretations ready after 0.5 s."""
    sb = Sandbox(interpretation_delay=0.5)
    sb.start()
    try:
        yield sb
    finally:
        sb.close()
