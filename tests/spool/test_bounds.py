"""The spool's size bounds come from the settings table, whoever builds the spool."""

from __future__ import annotations

from pathlib import Path

import pytest

from infinium_otel.delivery.spool import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, Spool
from infinium_otel.errors import ConfigurationError
from infinium_otel.settings import Settings


def test_without_bounds_or_variables_the_settings_defaults_apply(spool_dir: Path) -> None:
    spool = Spool(spool_dir, environ={})
    defaults = Settings.load({})
    assert (spool.max_bytes, spool.max_files) == (
        defaults.spool_max_bytes,
        defaults.spool_max_files,
    )
    assert (DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES) == (256 * 1024 * 1024, 10_000)


def test_an_explicit_bound_wins_over_the_variable(spool_dir: Path) -> None:
    env = {"INFINIUM_SPOOL_MAX_BYTES": "1MiB", "INFINIUM_SPOOL_MAX_FILES": "3"}
    spool = Spool(spool_dir, max_bytes=4096, max_files=2, environ=env)
    assert (spool.max_bytes, spool.max_files) == (4096, 2)


@pytest.mark.parametrize(
    ("keyword", "value", "variable"),
    [
        ("max_files", 0, "INFINIUM_SPOOL_MAX_FILES"),
        ("max_bytes", -1, "INFINIUM_SPOOL_MAX_BYTES"),
    ],
)
def test_a_bad_explicit_bound_is_an_error_naming_the_variable(
    spool_dir: Path, keyword: str, value: int, variable: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Spool(spool_dir, environ={}, **{keyword: value})  # type: ignore[arg-type]
    assert caught.value.config_key == variable
    assert not spool_dir.exists() or not any(spool_dir.iterdir())  # nothing written
