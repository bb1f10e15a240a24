"""The exporter's import path named by the ``opentelemetry_traces_exporter`` entry point."""

from infinium_otel.export.exporter import InfiniumSpanExporter, PayloadHook

__all__ = ["InfiniumSpanExporter", "PayloadHook"]
