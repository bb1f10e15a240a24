"""Checks for the processor's arguments, so a wrong value fails at construction.

A bad poll interval or sink name is a ``ConfigurationError`` naming the
argument, raised in the caller's ``InterpretationProcessor(...)``, never a
surprise later on the poller thread.
"""

from __future__ import annotations

from collections.abc import Iterable

from infinium_otel.errors import ConfigurationError
from infinium_otel.settings import INTERPRETATION_SINKS, Settings

__all__ = ["check_max_pending", "check_seconds", "check_sinks"]


def check_seconds(value: object, key: str, *, minimum: float, maximum: float) -> float:
    """``value`` as seconds between ``minimum`` and ``maximum`` (booleans and NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{key} must be a number, got {value!r}", config_key=key)
    number = float(value)
    if not minimum <= number <= maximum:  # also refuses NaN
        raise ConfigurationError(
            f"{key} must be between {minimum:g} and {maximum:g} seconds, got {value!r}",
            config_key=key,
        )
    return number


def check_max_pending(value: object) -> int:
    """``value`` as the bound on pending runs: a whole number of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"max_pending must be a positive whole number, got {value!r}",
            config_key="max_pending",
        )
    return value


def check_sinks(sinks: Iterable[str] | None, settings: Settings) -> frozenset[str]:
    """The sink names asked for (a list or a comma-separated string); None: the settings'."""
    if sinks is None:
        return settings.interpretation or frozenset({"log"})
    if isinstance(sinks, str):
        sinks = [part.strip() for part in sinks.split(",") if part.strip()]
    names = frozenset(str(name).strip().lower() for name in sinks)
    unknown = names - INTERPRETATION_SINKS
    if unknown:
        raise ConfigurationError(
            f"unknown interpretation sink(s) {sorted(unknown)}; use any of log, span_event",
            config_key="sinks",
        )
    return names
