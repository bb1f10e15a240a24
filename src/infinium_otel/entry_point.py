"""The exporter class the ``opentelemetry_traces_exporter`` entry point ``infinium`` names.

The SDK's zero-code setup builds ``InfiniumSpanExporter()`` with no arguments
inside its own setup: an exception there aborts the rest of it (later
exporters, metrics, logs and every instrumentation) and prints tracebacks. So,
built with no arguments, this class turns a missing or bad ``INFINIUM_*`` value
into one logged line and an exporter that sends nothing; Infinium alone is
off. With arguments it is the ordinary exporter: code that passes settings
gets its ``ConfigurationError``.
"""

from __future__ import annotations

import logging
from typing import Any

from infinium_otel.errors import ConfigurationError
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.settings import Settings

__all__ = ["EnvironmentInfiniumSpanExporter"]

_log = logging.getLogger("infinium_otel")


class EnvironmentInfiniumSpanExporter(InfiniumSpanExporter):
    """``InfiniumSpanExporter`` that, built from the environment alone, never raises."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            super().__init__(**kwargs)
            return
        try:
            super().__init__()
        except ConfigurationError as error:
            # Settings are checked before anything starts, so building again is safe.
            _log.error(
                "infinium-otel: Infinium export is off: %s "
                "(other exporters and instrumentations are unaffected)",
                error,
            )
            super().__init__(settings=Settings(disabled=True))
