"""infinium-otel: send OpenTelemetry-instrumented agent runs to Infinium.

``configure()`` is the one call most applications need; the exporter, the
interpretation processor, the client and the helpers are here for the rest.
"""

from infinium_otel._version import __version__
from infinium_otel.client.async_client import AsyncInfiniumClient
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import (
    AuthenticationError,
    ConfigurationError,
    InfiniumError,
    InfiniumTimeoutError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.instrumentation.helpers import agent, step, tool
from infinium_otel.interpretation import (
    InterpretationOutcome,
    InterpretationProcessor,
    InterpretationRequest,
)
from infinium_otel.settings import Settings
from infinium_otel.setup import InfiniumHandle, configure

__all__ = [
    "ApiResponse",
    "AsyncInfiniumClient",
    "AuthenticationError",
    "ConfigurationError",
    "InfiniumClient",
    "InfiniumError",
    "InfiniumHandle",
    "InfiniumSpanExporter",
    "InfiniumTimeoutError",
    "InterpretationOutcome",
    "InterpretationProcessor",
    "InterpretationRequest",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "Settings",
    "UnexpectedResponseError",
    "ValidationError",
    "__version__",
    "agent",
    "configure",
    "step",
    "tool",
]
