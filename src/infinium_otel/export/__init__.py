"""From finished spans to finished runs: the exporter, run assembly, the nesting
tracker and the exporter's self-telemetry."""

from infinium_otel.export.exporter import InfiniumSpanExporter, PayloadHook

__all__ = ["InfiniumSpanExporter", "PayloadHook"]
