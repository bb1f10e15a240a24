"""The import path named by the ``opentelemetry_traces_exporter`` entry point.

Its ``InfiniumSpanExporter`` is the one zero-code setup builds: with no
arguments a bad ``INFINIUM_*`` value switches Infinium off with one log line
instead of raising (see ``entry_point``).
"""

from infinium_otel.entry_point import EnvironmentInfiniumSpanExporter as InfiniumSpanExporter
from infinium_otel.export.exporter import PayloadHook

__all__ = ["InfiniumSpanExporter", "PayloadHook"]
