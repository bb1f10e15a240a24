"""How big the spool may grow: the ``spool_max_bytes`` / ``spool_max_files`` settings.

The variables, defaults and parsers are declared once, in ``Settings``; this
module only answers for a ``Spool`` built on its own (the CLI, tests) what a
bound is when none was passed.
"""

from __future__ import annotations

from collections.abc import Mapping

from infinium_otel.settings import (
    DEFAULT_SPOOL_MAX_BYTES,
    DEFAULT_SPOOL_MAX_FILES,
    Settings,
    parse_size,
)

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_FILES", "parse_size", "resolve_bound"]

DEFAULT_MAX_BYTES = DEFAULT_SPOOL_MAX_BYTES
DEFAULT_MAX_FILES = DEFAULT_SPOOL_MAX_FILES

_BY_VARIABLE = {
    "INFINIUM_SPOOL_MAX_BYTES": "spool_max_bytes",
    "INFINIUM_SPOOL_MAX_FILES": "spool_max_files",
}


def resolve_bound(
    given: int | None, environ: Mapping[str, str], key: str, default: int, *, size: bool
) -> int:
    """An explicit bound, else the environment's ``key``, else its default; always >= 1.

    ``default`` and ``size`` are kept for callers; the declaration in ``Settings``
    decides both.
    """
    name = _BY_VARIABLE[key]
    if given is not None:
        # Errors name the variable, as the spool's own keyword has no other name.
        value: int = Settings.declared()[name].parse(given, key, {})
        return value
    resolved: int = Settings.resolve(name, environ)
    return resolved
