"""How big the spool may grow: defaults, and the byte and file counts read from settings."""

from __future__ import annotations

import re
from collections.abc import Mapping

from infinium_otel.errors import ConfigurationError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_FILES", "parse_size", "resolve_bound"]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_FILES = 10_000

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str, key: str) -> int:
    """Bytes from ``"1048576"``, ``"512k"``, ``"256MiB"`` or ``"1G"`` (binary units)."""
    match = _SIZE.match(value)
    if match is None:
        raise ConfigurationError(
            f"{key} must be a byte count such as 268435456, 512k or 256MiB; got {value!r}",
            config_key=key,
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def resolve_bound(
    given: int | None, environ: Mapping[str, str], key: str, default: int, *, size: bool
) -> int:
    """An explicit bound, else the environment's ``key``, else ``default``; always >= 1."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise ConfigurationError(f"{key} must be a positive integer", config_key=key)
        return given
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    if size:
        value = parse_size(raw, key)
    else:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"{key} must be a whole number of files; got {raw!r}", config_key=key
            ) from None
    if value < 1:
        raise ConfigurationError(f"{key} must be at least 1; got {raw!r}", config_key=key)
    return value
