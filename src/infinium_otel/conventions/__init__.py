"""Readers for the conventions agent spans come in: OTel GenAI, OpenInference, OpenLLMetry."""

from infinium_otel.conventions.kind import SpanKind, classify

__all__ = ["SpanKind", "classify"]
