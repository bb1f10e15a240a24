"""Zero-code setup: the ``opentelemetry_configurator`` entry point ``infinium``.

``opentelemetry-instrument`` configures no SDK unless a configurator is
installed. Ours builds the standard SDK pipeline with defaults that suit
agents: traces go to Infinium unless ``OTEL_TRACES_EXPORTER`` says otherwise,
metrics and logs export nothing unless asked (no gRPC OTLP surprise), and the
batch delay is short so a run reaches Infinium about a second after it ends.

``opentelemetry-distro``, when installed, runs first and fills the exporter
variables with its own OTLP/gRPC defaults (``setdefault``). Those are the
distro's choice, not the user's: a variable the distro filled in is replaced
by ours, one the user set is kept. The process's initial environment
(``/proc/self/environ``) tells them apart; where it cannot be read, the
distro's values count as its own only while all of them are still in place.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from infinium_otel.export.nesting import attach_tracker

__all__ = ["InfiniumConfigurator"]

_DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "infinium",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_BSP_SCHEDULE_DELAY": "500",
}

# What ``opentelemetry.distro.OpenTelemetryDistro`` sets with ``os.environ.setdefault``.
_DISTRO_DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
}


def _initial_environment() -> dict[str, str] | None:
    """The environment the process started with (Linux), or None when unknown."""
    try:
        with open("/proc/self/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    initial: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep:
            initial[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return initial


def distro_filled(
    environ: Mapping[str, str], initial: Mapping[str, str] | None, distro_ran: bool
) -> list[str]:
    """The variables that hold a value the OpenTelemetry distro put there, not the user."""
    if not distro_ran or environ.get("OTEL_PYTHON_DISTRO", "distro") != "distro":
        return []
    held = [name for name, value in _DISTRO_DEFAULTS.items() if environ.get(name) == value]
    if initial is None:
        return held if len(held) == len(_DISTRO_DEFAULTS) else []
    return [name for name in held if initial.get(name) != environ[name]]


class InfiniumConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator with agent-friendly defaults."""

    def _configure(self, **kwargs: Any) -> None:
        distro_ran = "opentelemetry.distro" in sys.modules
        for name in distro_filled(os.environ, _initial_environment(), distro_ran):
            del os.environ[name]
        for name, value in _DEFAULTS.items():
            os.environ.setdefault(name, value)
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        # The Infinium exporters the SDK just installed watch span starts too (faster runs).
        attach_tracker(trace.get_tracer_provider())
