"""Fixtures shared by the conversion and encoding tests."""

from __future__ import annotations

import pytest

from infinium_otel.payload import json_encoder


@pytest.fixture(params=["orjson", "json"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once with orjson (when installed) and once with the standard encoder alone."""
    if request.param == "orjson":
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(json_encoder, "_orjson", None)
    return str(request.param)
