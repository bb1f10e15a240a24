"""Zero-code setup: the ``opentelemetry_configurator`` entry point ``infinium``.

``opentelemetry-instrument`` configures no SDK unless a configurator is
installed. Ours builds the standard SDK pipeline with defaults that suit
agents: traces go to Infinium unless ``OTEL_TRACES_EXPORTER`` says otherwise,
metrics and logs export nothing unless asked (no gRPC OTLP surprise), and the
batch delay is short so a run reaches Infinium about a second after it ends.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.sdk._configuration import _OTelSDKConfigurator

__all__ = ["InfiniumConfigurator"]

_DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "infinium",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_BSP_SCHEDULE_DELAY": "500",
}


class InfiniumConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator with agent-friendly defaults."""

    def _configure(self, **kwargs: Any) -> None:
        for name, value in _DEFAULTS.items():
            os.environ.setdefault(name, value)
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
