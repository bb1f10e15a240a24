"""The OTLP gateway: OTLP/HTTP and OTLP/gRPC from any language, grouped by trace into
whole runs, sent through the same exporter (``pip install 'infinium-otel[gateway]'``)."""

from __future__ import annotations

from infinium_otel.gateway.core import GatewayOptions
from infinium_otel.gateway.decode import DecodeLimits
from infinium_otel.gateway.server import Gateway

__all__ = ["DecodeLimits", "Gateway", "GatewayOptions"]
