"""Fixtures for the sandbox tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infinium_otel.sandbox import Sandbox

from .support import Api


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[Api]:
    client = Api(sandbox)
    try:
        yield client
    finally:
        client.session.close()
