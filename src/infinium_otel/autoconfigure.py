"""Zero-code setup: the ``opentelemetry_configurator`` entry point ``infinium``.

``opentelemetry-instrument`` configures no SDK unless a configurator is
installed. Ours builds the standard SDK pipeline with defaults that suit
agents: traces go to Infinium unless ``OTEL_TRACES_EXPORTER`` says otherwise,
metrics and logs export nothing unless asked (no gRPC OTLP surprise), and the
batch delay is short so a run reaches Infinium about a second after it ends.

Beside ``opentelemetry-distro`` the rule is: ours never silently replaces the
distro's OTLP setup. The distro runs first and fills the exporter variables
with its OTLP defaults (``setdefault``); the process's initial environment
(``/proc/self/environ``) tells those apart from values the user set (where it
cannot be read, the distro's values count as its own only while all of them
are still in place). Then:

- chosen by name (``OTEL_PYTHON_CONFIGURATOR=infinium``): our defaults replace
  the distro's, and one warning names what was replaced;
- merely installed beside it (which configurator runs is then up to entry
  point order): ours keeps the distro's defaults and only adds ``infinium`` to
  the distro's trace exporters, when ``INFINIUM_AGENT_ID`` (or
  ``INFINIUM_ROUTES``) is set.

A value the user set is never touched.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

from infinium_otel.export.nesting import attach_tracker

__all__ = ["InfiniumConfigurator", "Plan", "distro_filled", "plan"]

_log = logging.getLogger("infinium_otel")

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


@dataclasses.dataclass(frozen=True)
class Plan:
    """What our configurator changes in the environment, and what it says about it."""

    assign: dict[str, str]
    replace: dict[str, str]  # distro defaults taken over: name -> the distro's value
    warning: str | None = None
    note: str | None = None


def plan(
    environ: Mapping[str, str],
    initial: Mapping[str, str] | None,
    *,
    distro_ran: bool,
    chosen: bool,
) -> Plan:
    """The variables to set before the SDK's own setup reads them (pure; see the module)."""
    filled = distro_filled(environ, initial, distro_ran)
    if not distro_ran or environ.get("OTEL_PYTHON_DISTRO", "distro") != "distro":
        return Plan(assign={k: v for k, v in _DEFAULTS.items() if k not in environ}, replace={})
    if chosen:
        # Only the variables we have defaults for; the distro's OTLP protocol (gRPC,
        # the SDK's own default too) stays for whoever still names ``otlp``.
        replace = {name: environ[name] for name in filled if name in _DEFAULTS}
        assign = {k: v for k, v in _DEFAULTS.items() if k not in environ or k in replace}
        warning = None
        if replace:
            taken = ", ".join(f"{name}={value}" for name, value in replace.items())
            ours = ", ".join(f"{name}={assign[name]}" for name in replace)
            warning = (
                f"infinium-otel: OTEL_PYTHON_CONFIGURATOR=infinium replaces opentelemetry-distro's "
                f"defaults ({taken}) with Infinium's ({ours}); "
                "set those variables yourself to keep OTLP"
            )
        return Plan(assign=assign, replace=replace, warning=warning)
    # Installed beside the distro, not chosen: the distro's setup stays.
    if "OTEL_TRACES_EXPORTER" not in filled:
        return Plan(
            assign={},
            replace={},
            note="infinium-otel: OTEL_TRACES_EXPORTER is yours; the Infinium exporter is not added",
        )
    if not environ.get("INFINIUM_AGENT_ID") and not environ.get("INFINIUM_ROUTES"):
        return Plan(
            assign={},
            replace={},
            note="infinium-otel: INFINIUM_AGENT_ID and INFINIUM_ROUTES are unset; "
            "keeping opentelemetry-distro's setup without Infinium",
        )
    traces = f"{environ['OTEL_TRACES_EXPORTER']},infinium"
    return Plan(
        assign={"OTEL_TRACES_EXPORTER": traces},
        replace={},
        note=f"infinium-otel: keeping opentelemetry-distro's setup and adding Infinium "
        f"(OTEL_TRACES_EXPORTER={traces}); set OTEL_PYTHON_CONFIGURATOR=infinium for "
        "Infinium's defaults",
    )


class InfiniumConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator with agent-friendly defaults."""

    def _configure(self, **kwargs: Any) -> None:
        decided = plan(
            os.environ,
            _initial_environment(),
            distro_ran="opentelemetry.distro" in sys.modules,
            chosen=os.environ.get("OTEL_PYTHON_CONFIGURATOR") == "infinium",
        )
        for name in decided.replace:
            del os.environ[name]
        os.environ.update(decided.assign)
        if decided.warning:
            _log.warning("%s", decided.warning)
        elif decided.note:
            _log.info("%s", decided.note)
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        # The Infinium exporters the SDK just installed watch span starts too (faster runs).
        attach_tracker(trace.get_tracer_provider())
